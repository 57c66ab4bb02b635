"""End to end on a small subset: train the teacher's head and the students, save, load, evaluate."""

import json

import pytest
import torch

from kd.config import DataConfig, DistillConfig, TrainConfig
from kd.models.checkpoint import load_checkpoint
from kd.study.evaluate import evaluate_folder
from kd.study.pipeline import distill, labelled_mask, teacher_reference, train_teacher

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory, small_dataset):
    out = tmp_path_factory.mktemp("run")
    data = DataConfig()
    teacher, teacher_info = train_teacher(data, TrainConfig(epochs=6, batch_size=32, lr=3e-3), out=out / "teacher", dataset=small_dataset, progress=False)
    ref = teacher_reference(out / "teacher")
    runs = {"teacher": teacher_info}
    for name, alpha in (("student", 0.9), ("student_scratch", 0.0)):
        _, runs[name] = distill(
            teacher, data, TrainConfig(epochs=6, batch_size=32), DistillConfig(alpha=alpha), out=out / name,
            dataset=small_dataset, teacher_ref=ref, progress=False,
        )
    return out, runs


@pytest.mark.parametrize("name", ["teacher", "student", "student_scratch"])
def test_loss_falls_and_history_is_recorded(trained, name):
    _, runs = trained
    history = runs[name]["history"]
    assert len(history) == 6
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert {"epoch", "loss", "train_accuracy", "val_accuracy", "seconds"} <= set(history[0])


def test_checkpoints_store_their_full_config_and_load(trained, small_dataset):
    out, _ = trained
    for name in ("teacher", "student", "student_scratch"):
        model, config = load_checkpoint(out / name)
        assert config["train"]["seed"] == 0 and config["data"]["source"] == "emoji"
        assert config["history"] and config["dataset"]["fingerprint"] == small_dataset.fingerprint()
        logits = model.predict_logits(small_dataset.images[:4], small_dataset.texts[:4])
        assert logits.shape == (4, 9)
    student_config = json.loads((out / "student" / "config.json").read_text())
    assert student_config["distill"]["alpha"] == 0.9 and student_config["teacher"]["model"] == "teacher"
    assert json.loads((out / "student_scratch" / "config.json").read_text())["distill"]["alpha"] == 0.0


def test_evaluate_folder_reports_every_metric(trained):
    out, _ = trained
    with pytest.warns(UserWarning, match="trained on dataset"):  # trained on a subset, evaluated on the full test split
        metrics = evaluate_folder(out, speed=False, progress=False)
    assert set(metrics["models"]) == {"teacher", "student", "student_scratch"}
    teacher = metrics["models"]["teacher"]
    assert teacher["agreement"] == 1.0 and teacher["kl_to_teacher"] == pytest.approx(0.0, abs=1e-6)
    for row in metrics["models"].values():
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["ece"] <= 1 and row["params"] > 0 and row["size_mb"] > 0
    assert metrics["dataset"]["evaluated"] == metrics["dataset"]["per_split"]["test"]


def test_latency_is_timed_on_the_serving_threads_and_the_rest_on_the_callers(trained):
    out, _ = trained
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.warns(UserWarning, match="trained on dataset"):
            metrics = evaluate_folder(out, progress=False, latency_repeats=3, latency_threads=1, out_of_domain_check=False)
        assert torch.get_num_threads() == 2  # restored after timing
    finally:
        torch.set_num_threads(before)
    assert metrics["settings"]["latency_threads"] == 1 and metrics["settings"]["threads"] == 2
    assert "1 torch thread (as the app serves)" in metrics["settings"]["latency"]
    for row in metrics["models"].values():
        assert 0 < row["latency_ms_p50"] <= row["latency_ms_p95"]


def test_same_seed_same_student(trained, small_dataset):
    out, runs = trained
    teacher, _ = load_checkpoint(out / "teacher")
    again, _ = distill(teacher, DataConfig(), TrainConfig(epochs=6, batch_size=32), DistillConfig(alpha=0.9), dataset=small_dataset, progress=False)
    first, _ = load_checkpoint(out / "student")
    x = (small_dataset.images[:8], small_dataset.texts[:8])
    assert torch.allclose(first.predict_logits(*x), again.predict_logits(*x), atol=1e-5)


def test_few_labels_pick_whole_emoji(small_dataset):
    mask = labelled_mask(small_dataset, 0.5, seed=0)
    by_group = {}
    for group, m in zip(small_dataset.groups, mask.tolist()):
        by_group.setdefault(group, set()).add(m)
    assert all(len(v) == 1 for v in by_group.values())
    assert 0.25 < mask.float().mean() < 0.75


def test_each_head_of_the_teacher_trains_on_its_own_seed(trained):
    out, runs = trained
    teacher, _ = load_checkpoint(out / "teacher")
    heads = teacher.head.members
    assert len(heads) == len(runs["teacher"]["heads_val_accuracy"]) == teacher.config.heads > 1
    # From their own initial weights and seeds, no two heads end alike.
    first = [h.classifier[1].weight for h in heads]
    assert all(not torch.allclose(first[0], w) for w in first[1:])
    assert all(0.0 <= a <= 1.0 for a in runs["teacher"]["heads_val_accuracy"])


def test_a_teacher_stopped_between_heads_resumes_to_the_same_weights(tmp_path, small_dataset, monkeypatch):
    from kd.training.train import Trainer

    data, train = DataConfig(), TrainConfig(epochs=2, batch_size=32, lr=3e-3)
    whole, _ = train_teacher(data, train, out=tmp_path / "whole", dataset=small_dataset, progress=False, heads=3)
    fit, calls = Trainer.fit, []

    def crash_on_third_head(self, loader, resume=False):
        calls.append(resume)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return fit(self, loader, resume)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "fit", crash_on_third_head)
        with pytest.raises(KeyboardInterrupt):
            train_teacher(data, train, out=tmp_path / "killed", dataset=small_dataset, progress=False, heads=3)
    assert len(list((tmp_path / "killed").glob(".training-state*"))) == 2  # the two heads that finished
    resumed, _ = train_teacher(data, train, out=tmp_path / "killed", dataset=small_dataset, progress=False, heads=3, resume=True)
    assert json.loads((tmp_path / "killed" / "config.json").read_text())["weights_sha256"] == \
        json.loads((tmp_path / "whole" / "config.json").read_text())["weights_sha256"]
    assert not list((tmp_path / "killed").glob(".training-state*"))  # cleaned up once saved
