"""kd.serving.live: the teacher's recorded answers (matched example by example, so a machine
missing an art style still uses them), a student and its labels-only twin trained on them by
the real Distiller and Trainer, runs in a thread that stop when asked or when their time is
up, one run per session, and the figures the "Distill it yourself" tab shows."""

import copy
import math
import threading
import time

import pytest
import torch
from demo_helpers import (
    CHECKPOINTS,
    assert_clear_message,
    torch_threads_as_in_the_app,  # noqa: F401 (autouse fixture: the app trains on one thread)
)

from kd.config import DataConfig, from_dict
from kd.data.dataset import load_dataset
from kd.layout import EXPORTED, TEACHER_OUTPUTS_FILE, display_name
from kd.models.checkpoint import read_config, weights_sha256
from kd.models.classifiers import Features, Student, create_model
from kd.serving import live, live_page
from kd.serving.live import LiveData, LiveError, LiveSettings, SettingsError
from kd.serving.live_lab import LiveLab, LiveRun
from kd.serving.results import load_metrics
from kd.study import record
from kd.study.evaluate import accuracy, dataset_logits
from kd.study.pipeline import labelled_mask, student_inputs
from kd.study.record import RecordedTeacher, RecordError, TeacherOutputs
from kd.training.distill import Distiller
from kd.training.features import teacher_features

# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def tiny_dataset(emoji_dataset):
    """About 30 examples from every split and style: the teacher's backbones run on them in seconds."""
    tiny = emoji_dataset.subset([i for i in range(len(emoji_dataset)) if i % 190 == 0])
    assert {"train", "val", "test"} <= set(tiny.splits)
    return tiny


@pytest.fixture(scope="module")
def recorded(teacher, tiny_dataset, tmp_path_factory):
    """The (untrained-head) teacher's record of the tiny dataset, saved and loaded back."""
    path = record.save_teacher_outputs(teacher, tiny_dataset, tmp_path_factory.mktemp("record") / TEACHER_OUTPUTS_FILE)
    return path, record.load_teacher_outputs(path, tiny_dataset, weights_sha256(teacher))


@pytest.fixture(scope="module")
def small_data(small_dataset):
    """~160 examples with made-up teacher answers: enough to train a student in a second an epoch."""
    shape = (len(small_dataset), len(record.VIEWS), small_dataset.num_classes)
    logits = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    outputs = TeacherOutputs(logits, small_dataset.classes, small_dataset.fingerprint(), "made-up")
    return LiveData.of(small_dataset, outputs)


FAST = LiveSettings(temperature=4, alpha=0.9, label_fraction=0.5, epochs=2)


def stop_after(calls: int):
    """A should_stop that says stop at its `calls`-th question (it is asked after every step)."""
    asked = iter(range(calls, 0, -1))
    return lambda: next(asked, 0) <= 1


# ------------------------------------------------------------------- the teacher's record


def test_the_record_holds_the_teachers_logits_on_every_example_for_every_view(teacher, tiny_dataset, recorded):
    _, outputs = recorded
    assert outputs.logits.shape == (len(tiny_dataset), len(record.VIEWS), tiny_dataset.num_classes)
    assert outputs.dataset_fingerprint == tiny_dataset.fingerprint() and outputs.classes == tiny_dataset.classes
    for view, modalities in (("image+text", ("image", "text")), ("image", ("image",)), ("text", ("text",)), ("none", ())):
        assert torch.allclose(outputs.view(view), dataset_logits(teacher, tiny_dataset, modalities), atol=1e-5), view


def test_the_recorded_teacher_answers_as_the_teachers_head_on_any_masked_view(teacher, tiny_dataset, recorded):
    _, outputs = recorded
    features = teacher_features(teacher, tiny_dataset, progress=False)
    n = len(tiny_dataset)
    keep_image, keep_text = torch.rand(n) < 0.5, torch.rand(n) < 0.5  # all four views, neither included
    want, _ = teacher.eval().forward_head(features.masked(keep_image, keep_text))
    batch = RecordedTeacher.features(outputs.logits, tiny_dataset.has_text)
    recorded_features = Features(*(batch[f"teacher_{k}"] for k in ("image", "text", "has_image", "has_text")))
    got, _ = RecordedTeacher(tiny_dataset.num_classes).forward_head(recorded_features.masked(keep_image, keep_text))
    assert torch.allclose(got, want, atol=1e-5)


def test_the_distillers_losses_are_the_same_with_the_recorded_teacher(teacher, tiny_dataset, recorded):
    """The live student is trained on exactly what kd.study.pipeline.distill would give it."""
    _, outputs = recorded
    student = create_model("student", num_classes=tiny_dataset.num_classes)
    inputs = student_inputs(student, tiny_dataset)
    features = teacher_features(teacher, tiny_dataset, progress=False)
    base = {**inputs, "labels": tiny_dataset.labels, "labelled": torch.arange(len(tiny_dataset)) % 2 == 0}
    with_real = {**base, "teacher_image": features.image, "teacher_text": features.text,
                 "teacher_has_image": features.has_image, "teacher_has_text": features.has_text}
    with_record = {**base, **RecordedTeacher.features(outputs.logits, tiny_dataset.has_text)}
    config = LiveSettings(temperature=3, alpha=0.7).distill_config()
    real, replay = (
        Distiller(who, copy.deepcopy(student), config, modality_dropout=0.4, seed=1).eval()
        for who in (teacher, RecordedTeacher(tiny_dataset.num_classes))
    )
    (logits_a, losses_a), (logits_b, losses_b) = real(with_real), replay(with_record)
    assert torch.equal(logits_a, logits_b) and set(losses_a) == set(losses_b) == {"loss_ce", "loss_kd"}
    for name in losses_a:
        assert losses_a[name].item() == pytest.approx(losses_b[name].item(), rel=1e-5), name


def test_the_teacher_is_named_by_the_hash_its_checkpoint_records(teacher, tmp_path):
    from kd.models.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "teacher", teacher, "teacher", classes=["a"], data={})
    assert weights_sha256(teacher) == read_config(tmp_path / "teacher")["weights_sha256"]


def corrupt(path, tmp_path, how):
    bad = tmp_path / "bad.safetensors"
    if how == "truncated":
        bad.write_bytes(path.read_bytes()[:1000])
    elif how == "not safetensors":
        bad.write_bytes(b"this is not a safetensors file at all")
    elif how == "other format":
        from kd import cache

        cache.save_tensors(bad, {"logits": torch.zeros(2, 4, 9)}, {"format": "something else"})
    return bad


@pytest.mark.parametrize("how", ["missing", "truncated", "not safetensors", "other format"])
def test_a_missing_or_broken_record_is_refused_with_what_to_do(recorded, tmp_path, how):
    path = tmp_path / "nothing-here.safetensors" if how == "missing" else corrupt(recorded[0], tmp_path, how)
    with pytest.raises(RecordError, match="python -m kd reproduce") as refused:
        record.load_teacher_outputs(path)
    assert_clear_message(str(refused.value))


def test_a_record_of_other_data_or_another_teacher_is_refused(recorded, tiny_dataset, small_dataset):
    path, _ = recorded
    with pytest.raises(RecordError, match=f"Only 2 of the {len(small_dataset)} examples built here have a recorded teacher "
                                        "answer") as refused:
        record.load_teacher_outputs(path).match(small_dataset)  # the two share examples 0 and 3420
    assert_clear_message(str(refused.value))
    with pytest.raises(RecordError, match="Only 2 of the"):
        record.load_teacher_outputs(path, small_dataset)  # with the data: every example must be recorded
    with pytest.raises(RecordError, match="another teacher"):
        record.load_teacher_outputs(path, tiny_dataset, teacher_sha256="0" * 64)


def without(dataset, style):
    return dataset.subset([i for i, s in enumerate(dataset.styles) if s != style])


def test_a_machine_missing_an_art_style_uses_the_recorded_answers_of_the_examples_it_has(recorded, tiny_dataset):
    """Without Debian's Noto font the dataset has two art styles; the record has three."""
    path, everything = recorded
    assert record.load_teacher_outputs(path).styles == ["twemoji", "openmoji", "noto"]
    two_styles = without(tiny_dataset, "noto")
    rows, outputs = record.load_teacher_outputs(path).match(two_styles)
    assert rows.tolist() == list(range(len(two_styles)))
    kept = [i for i, s in enumerate(tiny_dataset.styles) if s != "noto"]
    assert torch.equal(outputs.logits, everything.logits[kept]) and outputs.styles == ["twemoji", "openmoji"]
    assert outputs.keys == record.example_keys(two_styles)


def test_an_example_drawn_differently_here_is_left_out(recorded, tiny_dataset):
    """Each example's picture (and text) is checked by its hash, not only its emoji and style."""
    path, everything = recorded
    redrawn = copy.deepcopy(tiny_dataset)
    redrawn.images[3] = 255 - redrawn.images[3]  # another font version's drawing of the same emoji
    redrawn.texts[5] = redrawn.texts[5] + " (renamed)"
    rows, outputs = record.load_teacher_outputs(path).match(redrawn)
    assert rows.tolist() == [i for i in range(len(tiny_dataset)) if i not in (3, 5)]
    assert torch.equal(outputs.logits, everything.logits[rows])


def test_a_record_of_the_first_format_is_used_on_the_very_data_it_was_made_on(recorded, tiny_dataset, tmp_path):
    """A record written before examples had keys: the whole-dataset fingerprint decides."""
    from kd import cache

    path, everything = recorded
    tensors, meta = cache.load_tensors(path)
    del meta["keys"]
    old = tmp_path / "old.safetensors"
    cache.save_tensors(old, tensors, {**meta, "format_version": 1})
    outputs = record.load_teacher_outputs(old, tiny_dataset)
    assert outputs.keys is None and torch.equal(outputs.logits, everything.logits)
    with pytest.raises(RecordError, match="first format") as refused:
        record.load_teacher_outputs(old).match(without(tiny_dataset, "noto"))
    assert_clear_message(str(refused.value))


def test_python_m_kd_record_rewrites_the_record_from_the_teacher_in_a_folder(teacher, tiny_dataset, tmp_path, monkeypatch):
    from kd.models.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "teacher", teacher, "teacher", classes=tiny_dataset.classes, data={})
    monkeypatch.setattr(record, "load_dataset", lambda config, progress: tiny_dataset)
    path = record.record_teacher_outputs(tmp_path, progress=False)
    outputs = record.load_teacher_outputs(path, tiny_dataset, weights_sha256(teacher))
    assert torch.allclose(outputs.view("image+text"), dataset_logits(teacher, tiny_dataset), atol=1e-5)


# ------------------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(alpha=1.5), "Alpha must be between 0 and 1 (got 1.5)."),
        (dict(alpha=float("nan")), "Alpha must be between 0 and 1"),
        (dict(alpha="much"), "Alpha must be a number, not 'much'."),
        (dict(epochs=0), f"Epochs must be between 1 and {live.MAX_EPOCHS} (got 0)."),
        (dict(epochs=live.MAX_EPOCHS + 1), f"Epochs must be between 1 and {live.MAX_EPOCHS}"),
        (dict(epochs=2.5), "Epochs must be a whole number (got 2.5)."),
        (dict(label_fraction=0.0), "The labelled fraction must be between 5% and 100% (got 0%)."),
        (dict(label_fraction=None), "The labelled fraction must be between 5% and 100% (got None)."),
        (dict(temperature=0.5), "The temperature T must be between 1 and 20 (got 0.5)."),
        (dict(student_init="pretrained"), "The student starts from random, teacher, distilled weights, not 'pretrained'."),
    ],
)
def test_settings_out_of_range_get_a_clear_message(settings, message):
    with pytest.raises(SettingsError) as refused:
        LiveSettings(**settings).check()
    assert str(refused.value).startswith(message)
    assert_clear_message(str(refused.value))


def test_the_page_gives_the_labelled_fraction_in_percent():
    assert LiveSettings.from_page(4, 0.9, 25, 3, "random") == LiveSettings(4.0, 0.9, 0.25, 3, "random")
    with pytest.raises(SettingsError, match=r"between 5% and 100% \(got 200%\)\."):
        LiveSettings.from_page(4, 0.9, 200, 3, "random")
    with pytest.raises(SettingsError, match="The labelled fraction must be a number of percent, not 'lots'."):
        LiveSettings.from_page(4, 0.9, "lots", 3, "random")


def test_settings_in_range_are_taken_as_numbers():
    settings = LiveSettings(temperature="2.5", alpha=0, label_fraction=1, epochs=3.0, student_init="teacher").check()
    assert settings == LiveSettings(2.5, 0.0, 1.0, 3, "teacher")
    assert settings.train_config().epochs == 3 and settings.train_config().label_fraction == 1.0
    assert settings.distill_config().transfer is False and not settings.distill_config().uses_teacher
    assert settings.describe() == "labels only, labels for 100% of the training emoji, word vectors: teacher"


# ------------------------------------------------------------------------------ training


def test_a_run_trains_a_real_student_and_its_twin_and_reports_every_epoch_as_it_ends(small_data):
    rows = []
    result = live.train_student(small_data, FAST, on_epoch=[rows.append])
    assert isinstance(result.student, Student) and not result.student.training
    assert isinstance(result.twin, Student) and not result.twin.training and result.twin is not result.student
    assert [row["epoch"] for row in rows] == [1, 2] and result.history == rows and result.stopped == ""
    assert {"loss", "loss_kd", "loss_ce", "train_accuracy", "val_accuracy", "val_agreement", "seconds",
            "twin_loss_ce", "twin_val_accuracy", "twin_val_agreement"} <= set(rows[0])
    assert rows[0]["loss"] == pytest.approx(rows[0]["loss_kd"] + rows[0]["loss_ce"])  # your student's alone
    dataset = small_data.dataset
    train = dataset.subset(dataset.split_indices("train"))
    assert result.labelled_examples == int(labelled_mask(train, FAST.label_fraction, 0).sum()) > 0
    # The test figures are each student's own, against the recorded teacher.
    test_idx = dataset.split_indices("test")
    teacher_says = small_data.outputs.view("image+text")[test_idx].argmax(1)
    for model, scores in ((result.student, result.test), (result.twin, result.twin_test)):
        logits = dataset_logits(model, dataset.subset(test_idx))
        assert scores["accuracy"] == pytest.approx(accuracy(logits, dataset.labels[test_idx]))
        assert scores["agreement"] == pytest.approx(accuracy(logits, teacher_says))
    assert result.kd_gain == pytest.approx(100 * (result.test["accuracy"] - result.twin_test["accuracy"]))
    assert 0 < result.seconds < 60


def test_the_twin_starts_from_your_students_weights(teacher):
    for init in ("random", "teacher"):
        student, twin = live.fresh_students(LiveSettings(student_init=init), 9, teacher)
        assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(), twin.state_dict().values()))
    assert live.fresh_students(LiveSettings(alpha=0), 9)[1] is None


def test_side_by_side_each_student_gets_its_own_gradients_and_the_twin_the_labelled_rows_alone(small_data):
    """One Trainer for both is fair: the summed loss gives each student exactly the
    gradients its own loss would, and the twin learns from the labelled rows as alpha 0 does."""
    dataset, settings = small_data.dataset, LiveSettings(alpha=0.7, label_fraction=0.5)
    student, twin = live.fresh_students(settings, dataset.num_classes)
    _, tensors = live.pipeline.student_training_rows(dataset, small_data.inputs, settings.train_config(), settings.distill_config())
    batch = {**tensors, **RecordedTeacher.features(small_data.outputs.logits[dataset.split_indices("train")], dataset.has_text[dataset.split_indices("train")])}
    batch = {k: v[:64] for k, v in batch.items()}
    recorded = RecordedTeacher(dataset.num_classes)

    def distillers(a, b):
        return (Distiller(recorded, a, settings.distill_config(), 0.2, seed=0),
                Distiller(recorded, b, settings.twin().distill_config(), 0.2, seed=0))

    taught, alone = distillers(student, twin)
    torch.manual_seed(0)  # the students' dropout draws from it
    _, losses = live.SideBySide(taught, alone).train()(batch)
    sum(losses.values()).backward()
    assert set(losses) == {"loss_kd", "loss_ce", "twin_loss_ce"}
    taught2, alone2 = distillers(copy.deepcopy(student), copy.deepcopy(twin))
    for model in (taught2.student, alone2.student):
        model.zero_grad(set_to_none=True)
    taught2.train(), alone2.train()
    torch.manual_seed(0)
    sum(taught2(batch)[1].values()).backward()
    labelled = batch["labelled"]
    twin_losses = alone2({k: v[labelled] for k, v in batch.items()})[1]
    assert twin_losses["loss_ce"].item() == pytest.approx(losses["twin_loss_ce"].item(), rel=1e-5)
    twin_losses["loss_ce"].backward()
    for together, apart in ((student, taught2.student), (twin, alone2.student)):
        for (name, p), q in zip(together.named_parameters(), apart.parameters()):
            assert (p.grad is None) == (q.grad is None) and (p.grad is None or torch.allclose(p.grad, q.grad, atol=1e-6)), name


def test_the_same_settings_train_the_same_students(small_data):
    a, b = live.train_student(small_data, FAST), live.train_student(small_data, FAST)
    assert a.history[-1]["loss"] == b.history[-1]["loss"]
    for model in ("student", "twin"):
        x, y = getattr(a, model).state_dict(), getattr(b, model).state_dict()
        assert all(torch.equal(x[k], y[k]) for k in x), model


def test_alpha_zero_learns_from_the_labelled_examples_alone_and_is_its_own_twin(small_data):
    result = live.train_student(small_data, LiveSettings(alpha=0, label_fraction=0.5, epochs=1))
    assert {k for k in result.history[0] if "loss_" in k} == {"loss_ce"} and result.twin is None
    assert result.config()["distill"]["alpha"] == 0 and result.kd_gain is None
    assert "it is its own labels-only twin" in live_page.result_summary(result)


def test_a_student_can_start_from_the_teachers_word_embeddings(small_data, teacher):
    settings = LiveSettings(label_fraction=0.5, epochs=1, student_init="teacher")
    with pytest.raises(LiveError, match="needs the teacher"):
        live.train_student(small_data, settings)
    assert live.train_student(small_data, settings, teacher=teacher).student is not None


def test_a_stopped_run_keeps_its_best_epoch(small_data):
    steps = math.ceil(len(small_data.dataset.split_indices("train")) / FAST.train_config().batch_size)  # an epoch's
    result = live.train_student(small_data, LiveSettings(label_fraction=0.5, epochs=5), should_stop=stop_after(steps + 1))
    assert result.stopped == "Stopped, as you asked." and len(result.history) == 1
    assert result.student is not None and "accuracy" in result.test
    assert result.twin is not None and "accuracy" in result.twin_test
    assert live_page.result_summary(result).startswith("Stopped, as you asked. Your student trained 1 epoch with its labels-only twin in")


def test_a_run_stopped_before_its_first_epoch_ended_has_no_student(small_data):
    result = live.train_student(small_data, FAST, should_stop=lambda: True)
    assert result.student is None and result.history == [] and result.test == {}
    assert "No epoch ended" in live_page.result_summary(result)


def test_the_time_limit_stops_a_run(small_data):
    result = live.train_student(small_data, FAST, time_limit=0.0)
    assert result.stopped == "Stopped at the 0 s limit." and result.student is None


def test_a_run_stops_before_an_epoch_that_would_end_past_the_limit():
    now = time.perf_counter()
    budget = live._Budget(time_limit=10.0, stop=None)
    budget.start = now - 6
    assert live.TEST_SECONDS == 2  # kept for scoring both students at the end
    budget.epoch_ended(1, epochs=5, train_start=now - 1.9)  # 6 s in, 1.9 s an epoch: 6 + 1.9 + 2 < 10
    assert not budget()
    budget.epoch_ended(2, epochs=5, train_start=now - 3.6)  # 1.8 s an epoch: 6 + 1.8 + 2 < 10 still
    assert not budget()
    budget.start = now - 8
    budget.epoch_ended(2, epochs=5, train_start=now - 4)  # 8 + 2 + 2 > 10
    assert budget() and budget.reason == "Stopped after epoch 2 of 5: the next one would have ended past the 10 s limit."
    last = live._Budget(time_limit=10.0, stop=None)
    last.start = now - 9.5
    last.epoch_ended(5, epochs=5, train_start=now - 9)  # the last epoch: nothing left to stop
    assert not last()


# --------------------------------------------------------------------- runs in threads


def live_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kd-live-run"]


def test_a_run_in_a_thread_reports_its_epochs_then_its_result(small_data):
    run = LiveRun(small_data, FAST)
    rows = list(run.epochs())
    assert [row["epoch"] for row in rows] == [1, 2] and run.result.history == rows
    assert not run.running and not live_threads()


def test_closing_a_run_mid_way_stops_its_thread(small_data):
    """What happens when a visitor leaves: the web server closes the generator reading the run."""
    run = LiveRun(small_data, LiveSettings(label_fraction=0.5, epochs=live.MAX_EPOCHS), time_limit=None)
    rows = run.epochs()
    assert next(rows)["epoch"] == 1 and run.running
    rows.close()
    assert not run.running and not live_threads()


def test_a_heartbeat_reports_between_epochs_and_the_epochs_are_all_there(small_data):
    """The app reads with a heartbeat so that a cancel lands within a beat, not an epoch."""
    run = LiveRun(small_data, FAST)
    items = list(run.epochs(heartbeat=0.001))
    assert None in items  # an epoch takes longer than a millisecond
    assert [row["epoch"] for row in items if row is not None] == [1, 2] and not live_threads()


def test_an_error_in_the_thread_reaches_the_reader(small_data):
    run = LiveRun(small_data, LiveSettings(epochs=1, student_init="teacher"))  # no teacher to start from
    with pytest.raises(LiveError, match="needs the teacher"):
        list(run.epochs())
    assert not live_threads()


def test_the_lab_stops_one_sessions_run_and_no_other(small_data, tmp_path):
    lab = LiveLab(tmp_path / "unused.safetensors", data=small_data, time_limit=None)
    slow = LiveSettings(label_fraction=0.5, epochs=live.MAX_EPOCHS)
    runs = {session: lab.start(session, slow) for session in ("alice", "bob")}
    readers = {session: run.epochs() for session, run in runs.items()}
    for reader in readers.values():
        next(reader)
    assert sorted(lab.running()) == ["alice", "bob"]
    assert lab.stop("alice") and not lab.stop("carol")
    list(readers["alice"])
    assert runs["alice"].result.stopped == "Stopped, as you asked."
    assert runs["bob"].running and lab.running() == ["bob"]
    lab.finish("alice", runs["alice"])
    readers["bob"].close()
    lab.finish("bob", runs["bob"])
    assert lab.running() == [] and not live_threads()


def test_a_lab_without_the_record_says_what_to_do(tmp_path):
    lab = LiveLab(tmp_path / TEACHER_OUTPUTS_FILE)
    assert not lab.recorded and not lab.prepared
    with pytest.raises(RecordError, match="No recorded teacher outputs at .* python -m kd reproduce"):
        lab.data()


# --------------------------------------------------------------------- what the tab shows

HISTORY = [
    {"epoch": 1, "loss_kd": 2.7, "loss_ce": 0.05, "loss": 2.75, "train_accuracy": 0.4, "val_accuracy": 0.5, "val_agreement": 0.6,
     "twin_loss_ce": 1.5, "twin_val_accuracy": 0.25, "twin_val_agreement": 0.375},
    {"epoch": 2, "loss_kd": 1.8, "loss_ce": 0.025, "loss": 1.825, "train_accuracy": 0.6, "val_accuracy": 0.7, "val_agreement": 0.8,
     "twin_loss_ce": 1.0, "twin_val_accuracy": 0.5, "twin_val_agreement": 0.5},
]
TWO_STYLES = ["twemoji", "openmoji"]


def test_the_curves_hold_both_students_numbers_every_epoch():
    loss = live_page.loss_frame(HISTORY)
    assert loss.values.tolist() == [
        [1, 2.75, "your student"], [1, 1.5, "labels-only twin"], [2, 1.825, "your student"], [2, 1.0, "labels-only twin"],
    ]  # each student's whole loss: what it minimises
    accuracy_rows = live_page.accuracy_frame(HISTORY)
    assert accuracy_rows.values.tolist() == [
        [1, 0.5, "your student"], [1, 0.25, "labels-only twin"], [2, 0.7, "your student"], [2, 0.5, "labels-only twin"],
    ]
    assert live_page.loss_frame([]).empty and live_page.accuracy_frame([]).empty
    alone = [{k: v for k, v in row.items() if not k.startswith(live.TWIN)} for row in HISTORY]  # alpha 0: no twin
    assert set(live_page.accuracy_frame(alone)["model"]) == {"your student"}
    for curves in (live_page.LOSS_CURVES, live_page.ACCURACY_CURVES):
        assert len(set(live_page.curve_colors(curves).values())) == 2  # a colour each


def a_result(test=None, twin_test=None, **settings):
    settings = LiveSettings(**{"epochs": 4, **settings})
    twin = create_model("student", num_classes=9) if settings.alpha > 0 else None
    return live.LiveResult(create_model("student", num_classes=9), settings, HISTORY, test or {"accuracy": 0.8125, "agreement": 0.875,
                           "kl_to_teacher": 1.25}, 21.6, 40, twin=twin, twin_test=twin_test or {"accuracy": 0.6875, "agreement": 0.75,
                           "kl_to_teacher": 2.5})


def test_the_status_lines_give_the_numbers_of_the_run_and_the_kd_gain_in_words():
    line = live_page.epoch_line(HISTORY[1], LiveSettings(epochs=4), 12.3)
    assert line == "Epoch 2 of 4 (12 s): validation accuracy 0.700 (labels only: 0.500), agreement with the teacher 0.800."
    result = a_result()
    result.stopped = "Stopped after epoch 2 of 4: the next one would have ended past the 60 s limit."
    summary = live_page.result_summary(result)
    assert summary.startswith("Stopped after epoch 2 of 4")
    settings = "T = 4, alpha = 0.9, labels for 10% of the training emoji, word vectors: random"
    assert f"Your student trained 2 epochs with its labels-only twin in 22 s ({settings}: 40 labelled pictures, each emoji in every style)." in summary
    assert "epoch 2, the best on the validation split" in summary
    assert ("On the test split your student scores **0.812**, the same student on the same 10% of labels alone **0.688**: "
            "the teacher added **+12.5 points**.") in summary
    assert "agrees with the teacher on **0.875**" in summary
    worse = live_page.gain_sentence(a_result(twin_test={"accuracy": 0.875}))
    assert worse.endswith("here the teacher's soft labels cost **6.2 points**.")
    assert live_page.gain_sentence(a_result(alpha=0)).startswith(
        "With alpha 0 your student learned from the labels alone and scores **0.812** on the test split: it is its own "
        "labels-only twin")


def test_the_status_says_which_art_styles_the_students_train_on(small_data):
    train = len(small_data.dataset.split_indices("train"))
    assert live_page.data_line(small_data) == f"Training pictures: {train} in 3 art styles (twemoji, openmoji and noto)."
    two = LiveData.of(without(small_data.dataset, "noto"), small_data.outputs, ("twemoji", "openmoji", "noto"))
    assert two.styles == TWO_STYLES and two.missing_styles == ["noto"]
    assert live_page.data_line(two).endswith(
        "in 2 art styles (twemoji and openmoji). The noto style is not installed on this server: the teacher learned from it "
        "too, but here the students train and are scored on twemoji and openmoji pictures only.")


def test_the_comparison_puts_the_visitors_student_and_its_twin_above_the_shipped_models():
    metrics = load_metrics(CHECKPOINTS / "metrics.json")
    frame = live_page.comparison_frame(metrics, CHECKPOINTS)
    assert list(frame["model"]) == [display_name(name) for name in metrics["models"] if name not in EXPORTED]
    assert frame.set_index("model").loc[display_name("student"), "test accuracy"] == f"{metrics['models']['student']['accuracy']:.3f}"
    assert "labels only" in frame.set_index("model").loc["same student, labels only", "how it learned"]
    result = a_result(alpha=0.5, label_fraction=0.05, epochs=2)
    mine = live_page.comparison_frame(metrics, CHECKPOINTS, result)
    assert mine.iloc[0].tolist() == ["your student (taught by the teacher)", "0.812", "0.875", "1.250",
                                     "distilled at T = 4, alpha = 0.5, 5% of labels, 2 epochs"]
    assert mine.iloc[1].tolist() == ["same student, labels only, same 5% of labels", "0.688", "0.750", "2.500",
                                     "labels only, 5% of labels, 2 epochs"]
    assert list(mine["model"][2:]) == list(frame["model"])
    styles = live_page.highlighted(mine).to_html()
    assert styles.count("font-weight: bold") == 1  # your student's row, and no other
    alone = live_page.comparison_frame(metrics, CHECKPOINTS, a_result(alpha=0))
    assert list(alone["model"][:2]) == ["your student (taught by the teacher)", display_name("teacher")]


# ----------------------------------------------------------------- the shipped record


@pytest.fixture(scope="module")
def shipped_lab():
    config = read_config(CHECKPOINTS / "teacher")
    lab = LiveLab(CHECKPOINTS / TEACHER_OUTPUTS_FILE, from_dict(DataConfig, config["data"]), teacher_sha256=config["weights_sha256"])
    if not lab.recorded:
        pytest.skip(f"no {TEACHER_OUTPUTS_FILE} in {CHECKPOINTS} (python -m kd record writes it)")
    return lab


@pytest.mark.slow
def test_the_shipped_record_fits_the_shipped_teacher_and_the_data_built_here(shipped_lab):
    data = shipped_lab.data()  # refuses another dataset or teacher
    test_idx = data.dataset.split_indices("test")
    teacher_accuracy = accuracy(data.outputs.view("image+text")[test_idx], data.dataset.labels[test_idx])
    evaluated = load_metrics(CHECKPOINTS / "metrics.json")["models"]["teacher"]["accuracy"]
    if data.missing_styles:  # then scored on the styles built here, not those metrics.json was
        pytest.skip(f"{', '.join(data.missing_styles)} not installed here")
    assert teacher_accuracy == pytest.approx(evaluated, abs=1e-3)


@pytest.mark.slow
def test_without_the_noto_font_a_live_run_trains_on_the_two_styles_it_has_from_the_three_style_record():
    """`pip install -r requirements.txt` alone: no Debian font, so no noto pictures. The
    shipped record holds three styles; the tab trains on the two built here."""
    config = read_config(CHECKPOINTS / "teacher")
    assert list(config["data"]["styles"]) == [*TWO_STYLES, "noto"]
    data_config = from_dict(DataConfig, {**config["data"], "styles": TWO_STYLES})
    lab = LiveLab(CHECKPOINTS / TEACHER_OUTPUTS_FILE, data_config, teacher_sha256=config["weights_sha256"])
    if not lab.recorded:
        pytest.skip(f"no {TEACHER_OUTPUTS_FILE} in {CHECKPOINTS} (python -m kd record writes it)")
    data = lab.data()
    assert data.styles == TWO_STYLES and data.missing_styles == ["noto"]
    assert "The noto style is not installed on this server" in live_page.data_line(data)
    built = load_dataset(data_config, progress=False)
    assert len(data.dataset) == len(built)  # every example built here was recorded
    run = lab.start("no-noto", LiveSettings(epochs=1))
    assert [row["epoch"] for row in run.epochs()] == [1]
    result = run.result
    assert result.student is not None and result.twin is not None and result.test["accuracy"] > 1 / 9
    assert result.test["agreement"] > result.twin_test["agreement"]  # it learned the teacher's answers, not noise


@pytest.mark.slow
def test_a_default_run_on_the_real_data_ends_well_within_the_time_limit(shipped_lab):
    """Both students, on one torch thread, as the app trains (the autouse fixture). Prints
    its time: the README quotes it (python -m pytest tests/test_live.py -k default_run -s)."""
    data = shipped_lab.data()
    run = LiveRun(data, LiveSettings())
    rows = list(run.epochs())
    result = run.result
    print(f"\nlive: default run ({LiveSettings().describe()}), {len(rows)} epochs in {result.seconds:.1f} s, "
          f"both students; test accuracy {result.test['accuracy']:.3f}, labels-only twin {result.twin_test['accuracy']:.3f} "
          f"({result.kd_gain:+.1f} points), agreement {result.test['agreement']:.3f}"
          f"{', ' + result.stopped if result.stopped else ''}")
    assert result.seconds <= 0.75 * live.TIME_LIMIT_S and not result.stopped and len(rows) == LiveSettings().epochs
    assert result.kd_gain > 3  # few labels: the teacher's soft labels show
    assert not math.isnan(result.test["kl_to_teacher"])


def test_the_status_says_which_epoch_is_training_from_the_first_second():
    assert live_page.training_line(1, LiveSettings(epochs=8), 0.4) == "Training epoch 1 of 8 (0 s)…"
