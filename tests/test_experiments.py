"""The distillation study: its plan and its runs (its tables: test_tables.py)."""

import json
from dataclasses import replace

import pytest
from conftest import ROOT

from kd.config import DISTILL, DISTILL_TRAIN, SCRATCH
from kd.models.classifiers import CNN_STUDENT, StudentConfig, TeacherConfig
from kd.study.experiments import (
    ANOTHER_TEACHER,
    AT_48,
    AT_112_PX,
    AT_128_PX,
    EIGHT_BLOCKS,
    EIGHTH_RELEASE,
    FIFTH,
    FIFTH_RELEASE,
    FIRST_TRUNK_BLOCKS,
    HEAD_DROPOUT,
    LABELS_ONLY_48,
    LABELS_ONLY_NINTH,
    LABELS_ONLY_TENTH,
    LIGHTER_PICTURE_HINT,
    LONGER_EPOCHS,
    LONGER_MORE_VIEWS,
    LONGER_NO_DROPOUT,
    LONGER_T8,
    LONGEST,
    LONGEST_EPOCHS,
    NINTH_RELEASE,
    NO_PICTURE_HINT,
    ONE_BLOCK_TUNED,
    RELEASED_EPOCHS,
    SEEDS,
    SEVENTH_RELEASE,
    SHIPPED,
    SHIPPED_LABELS_ONLY,
    SHIPPED_SETTING,
    SIXTH_RELEASE,
    SOFTER_TEMPERATURE,
    TEACHER_AT_48,
    TENTH_EPOCHS,
    TENTH_LONGER,
    TENTH_RELEASE,
    TENTH_STAGES,
    THREE_VIEWS,
    TRANSFER_BATCH,
    TWO_BLOCKS_TUNED,
    TWO_VIEWS,
    WIDER_HEAD,
    _shape_key,
    run_one,
    study,
)


def fake_rows(accuracy_of) -> list[dict]:
    """One finished row per distinct run of the study, with the accuracy `accuracy_of(run)`."""
    rows = {}
    for run in study():
        rows.setdefault(run.key(), {
            "key": run.key(), "setting": run.setting.name, "method": run.method.name, "student": run.method.student,
            "seed": run.seed, "epochs": 40, "test_accuracy": accuracy_of(run), "val_accuracy": 0.5,
            "test_agreement": 0.8, "teacher_test_accuracy": 0.9, "params": 800_000, "seconds": 1.0,
        })
    return list(rows.values())


def test_the_comparisons_the_targets_are_judged_on_run_every_seed():
    runs = study()
    fidelity = [r for r in runs if r.table == "fidelity" and r.setting.name == "all labels"]
    five_heads = [r for r in runs if r.table == "fidelity" and r.setting.name == SHIPPED_SETTING]
    # the headline's rows, taught by teachers of five heads as the shipped student is
    assert [(r.method.name, r.seed) for r in five_heads] == [
        (m, s) for m in (ANOTHER_TEACHER, TEACHER_AT_48, SHIPPED_LABELS_ONLY, SHIPPED, LABELS_ONLY_TENTH, TENTH_RELEASE,
                         LABELS_ONLY_NINTH, NINTH_RELEASE, LABELS_ONLY_48, EIGHTH_RELEASE, THREE_VIEWS, TENTH_LONGER, LONGEST)
        for s in SEEDS] + [
        # then the ninth release at larger sides, with more room after the trunk, two views, more dropout, a larger
        # transfer batch, a lighter picture hint or none, and the trunk's last blocks trained, the first seed only
        (AT_112_PX, 0), (AT_128_PX, 0), (EIGHT_BLOCKS, 0), (WIDER_HEAD, 0), (TWO_VIEWS, 0),
        (HEAD_DROPOUT, 0), (TRANSFER_BATCH, 0), (NO_PICTURE_HINT, 0), (LIGHTER_PICTURE_HINT, 0), (ONE_BLOCK_TUNED, 0),
        (TWO_BLOCKS_TUNED, 0), (LONGER_NO_DROPOUT, 0), (LONGER_MORE_VIEWS, 0), (LONGER_T8, 0)]
    assert {r.setting.teacher_heads for r in five_heads} == {TeacherConfig.heads} and TeacherConfig.heads > 1
    assert {r.setting.teacher_heads for r in runs if r.setting.name != SHIPPED_SETTING} == {1}
    third = "third release: all of the above"
    fourth = "fourth release: third + the teacher's first five blocks in the picture branch"
    for name in ("labels only", "first recipe: init + KD + vocabulary words", third, "labels only, five trunk blocks", fourth,
                 LABELS_ONLY_48, SEVENTH_RELEASE):
        assert sorted(r.seed for r in fidelity if r.method.name == name) == list(SEEDS), name
    one_part = [r for r in fidelity if r.method.name.startswith("first +")]
    assert len(one_part) == 5 and all(r.seed == SEEDS[0] for r in one_part)
    shipped = next(r for r in five_heads if r.method.name == SHIPPED)
    # today's student, as shipped: its recipe, its shape and its schedule
    assert shipped.method.distill == DISTILL and shipped.method.student_args == {} and shipped.method.epochs == DISTILL_TRAIN.epochs
    # the tenth release: the same recipe, its student's stages narrower, trained two thirds as long
    tenth = next(r for r in five_heads if r.method.name == TENTH_RELEASE)
    assert tenth.method == replace(shipped.method, name=TENTH_RELEASE, student_args=TENTH_STAGES, epochs=TENTH_EPOCHS)
    assert TENTH_STAGES["channels"] < StudentConfig.channels and TENTH_EPOCHS < DISTILL_TRAIN.epochs
    # patience past the tenth release's schedule: the same recipe, half as long again, and so without the head's dropout
    longer = next(r for r in five_heads if r.method.name == TENTH_LONGER)
    assert longer.method == replace(tenth.method, name=TENTH_LONGER, epochs=LONGER_EPOCHS) and LONGER_EPOCHS > TENTH_EPOCHS
    # ... which, with wider stages, is the shipped recipe: one run, one row
    assert replace(longer, method=replace(longer.method, student_args={})).key() == shipped.key()
    no_dropout = next(r for r in five_heads if r.method.name == LONGER_NO_DROPOUT)
    assert no_dropout.method == replace(longer.method, name=LONGER_NO_DROPOUT, student_args={**TENTH_STAGES, "dropout": 0.0})
    more_views = next(r for r in five_heads if r.method.name == LONGER_MORE_VIEWS)
    assert more_views.method == replace(longer.method, name=LONGER_MORE_VIEWS, distill=replace(DISTILL, views=2 * DISTILL.views))
    softer = next(r for r in five_heads if r.method.name == LONGER_T8)
    assert softer.method == replace(longer.method, name=LONGER_T8, distill=replace(DISTILL, temperature=SOFTER_TEMPERATURE))
    longest = next(r for r in five_heads if r.method.name == LONGEST)
    assert longest.method == replace(tenth.method, name=LONGEST, epochs=LONGEST_EPOCHS) and LONGEST_EPOCHS > LONGER_EPOCHS
    baseline = next(r for r in five_heads if r.method.name == SHIPPED_LABELS_ONLY)
    assert baseline.method.distill == SCRATCH and baseline.method.student_args == {} and baseline.method.epochs == DISTILL_TRAIN.epochs
    tenth_labels = next(r for r in five_heads if r.method.name == LABELS_ONLY_TENTH)
    assert tenth_labels.method == replace(baseline.method, name=LABELS_ONLY_TENTH, student_args=TENTH_STAGES, epochs=TENTH_EPOCHS)
    # the ninth release: the tenth with one view of each transfer picture, half as long, and its twin on labels
    ninth = next(r for r in five_heads if r.method.name == NINTH_RELEASE)
    assert ninth.method == replace(tenth.method, name=NINTH_RELEASE, distill=replace(DISTILL, views=1), epochs=RELEASED_EPOCHS)
    assert DISTILL.views > 1 and TENTH_EPOCHS > RELEASED_EPOCHS
    ninth_labels = next(r for r in five_heads if r.method.name == LABELS_ONLY_NINTH)
    assert ninth_labels.method == replace(tenth_labels.method, name=LABELS_ONLY_NINTH, epochs=RELEASED_EPOCHS)
    # every row before the shipped one is keyed by the stages it trained, which StudentConfig no longer defaults to
    earlier = [r for r in five_heads if r.method.student == "student" and r.method.name not in (SHIPPED, SHIPPED_LABELS_ONLY)]
    assert earlier and all(r.method.student_args["channels"] == TENTH_STAGES["channels"] for r in earlier)
    # the 48 px rows are the sixth to eighth releases' student, keyed as they were run
    before = next(r for r in fidelity if r.method.name == LABELS_ONLY_48)
    assert before.method.student_args == {**TENTH_STAGES, **AT_48} and before.key() != replace(before, method=baseline.method).key()
    assert _shape_key("student", AT_48)["image_size"] == 48 and _shape_key("student", {})["image_size"] == StudentConfig.image_size
    # the released recipes keep the epoch best on validation accuracy, as they were run; the sweeps
    # reuse the fifth release's run at its own T and alpha instead of training it again
    cnn = next(r for r in fidelity if r.method.name == third)
    assert cnn.method.distill == replace(DISTILL, views=1, stamps=False, keep="val_accuracy") and cnn.key() != shipped.key()
    assert {r.table for r in runs if r.key() == cnn.key()} == {"fidelity", "size"}
    fifth = next(r for r in fidelity if r.method.name == FIFTH_RELEASE)
    assert {r.table for r in runs if r.key() == fifth.key()} == {"fidelity", "temperature", "alpha"}
    sweep = [r for r in runs if r.table == "temperature"]
    assert all(r.method.student_args == {**TENTH_STAGES, **FIFTH} for r in sweep)
    assert sorted(r.seed for r in sweep if r.method.distill.temperature == 8.0) == list(SEEDS)
    assert {r.table for r in study(tables=("fidelity",))} == {"fidelity"}


def test_the_ninth_release_is_the_seventh_from_a_teacher_of_five_heads_and_earlier_rows_keep_their_recipe():
    runs = [r for r in study(tables=("fidelity",)) if r.seed == SEEDS[0]]
    fidelity = {r.method.name: r for r in runs if r.setting.name == "all labels"}
    sixth, seventh = fidelity[SIXTH_RELEASE].method, fidelity[SEVENTH_RELEASE].method
    assert seventh.distill == replace(sixth.distill, stamps=True) and seventh.student_args == sixth.student_args
    eighth = next(r for r in runs if r.method.name == EIGHTH_RELEASE)
    assert eighth.method == replace(seventh, name=EIGHTH_RELEASE) and eighth.setting.teacher_heads == TeacherConfig.heads
    assert eighth.key() != fidelity[SEVENTH_RELEASE].key()  # the same recipe, another teacher: another run
    ninth = next(r for r in runs if r.method.name == NINTH_RELEASE)  # the eighth, reading the default side
    assert ninth.method == replace(eighth.method, name=NINTH_RELEASE, student_args=TENTH_STAGES) and ninth.setting == eighth.setting
    assert sorted(r.seed for r in study(tables=("fidelity",)) if r.method.name == SIXTH_RELEASE) == list(SEEDS)
    # every other row of a teacher of one head that extends the student one change at a time was run before the stamps
    with_stamps = [name for name, r in fidelity.items() if r.method.distill.stamps]
    assert with_stamps == [SEVENTH_RELEASE]


def test_runs_of_teachers_of_one_head_keep_their_keys():
    """Recorded before teachers had several heads, their keys do not name the heads; the rows of
    five-head teachers' runs do."""
    runs = study(tables=("fidelity",))
    seventh = next(r for r in runs if r.method.name == SEVENTH_RELEASE)
    shipped = next(r for r in runs if r.method.name == SHIPPED)
    assert "teacher_heads" not in json.loads(seventh.key())[0]
    assert json.loads(shipped.key())[0]["teacher_heads"] == TeacherConfig.heads
    recorded = {json.loads(line)["key"] for line in (ROOT / "experiments" / "runs.jsonl").read_text().splitlines()}
    assert seventh.key() in recorded


def test_the_depth_frontier_rows_differ_from_the_fifth_release_only_in_its_trunk():
    """The rows around the speed budget (benchmarks/trunk_speed.py times the same shapes) are
    the fifth release's recipe with a shallower or deeper trunk or larger pictures, each its own run."""
    fidelity = {r.method.name: r for r in study(tables=("fidelity",)) if r.seed == SEEDS[0]}
    fifth = fidelity[FIFTH_RELEASE]
    shapes = {"fifth release, four trunk blocks": {"trunk_blocks": 4, "image_size": 48},
              "fourth release: third + the teacher's first five blocks in the picture branch": {"trunk_blocks": 5, "image_size": 48},
              "fifth release, six trunk blocks": {"trunk_blocks": 6, "image_size": 48},
              "fifth release, eight trunk blocks at 64 px": {"trunk_blocks": 8, "image_size": 64}}
    for name, args in shapes.items():
        run = fidelity[name]
        assert run.method.distill == fifth.method.distill and run.method.student_args == {**TENTH_STAGES, **args}, name
    assert len({fidelity[name].key() for name in shapes} | {fifth.key()}) == 5


def test_a_run_keys_its_epochs_only_when_it_names_them():
    """Runs recorded before epochs could change (all at STUDENT_TRAIN's 30) keep their keys."""
    fidelity = {r.method.name: r for r in study(tables=("fidelity",)) if r.seed == SEEDS[0]}
    fifth = fidelity[FIFTH_RELEASE]
    assert fifth.method.epochs is None and "epochs" not in fifth.key()
    longer = replace(fifth, method=replace(fifth.method, epochs=60))
    assert json.loads(longer.key())[:-1] == json.loads(fifth.key()) and json.loads(longer.key())[-1] == {"epochs": 60}


def test_runs_recorded_with_the_cnn_keep_their_keys():
    # Keys name the picture branch only where it is not the CNN every earlier run had.
    assert _shape_key("student", CNN_STUDENT) == {}
    assert _shape_key("student", {**CNN_STUDENT, "text_dim": 12}) == {"text_dim": 12}
    trunk = _shape_key("student", {})
    assert trunk["image_encoder"] == "trunk" and trunk["image_size"] == StudentConfig.image_size
    assert _shape_key("student_text", {}) == {}  # no picture branch: nothing to name
    # the first trunk runs' depth is not named; any other is, default or not
    assert "trunk_blocks" not in _shape_key("student", {"trunk_blocks": FIRST_TRUNK_BLOCKS})
    assert _shape_key("student", {"trunk_blocks": 7})["trunk_blocks"] == 7
    assert _shape_key("student", {}) == _shape_key("student", {"trunk_blocks": StudentConfig.trunk_blocks})
    assert "trunk_blocks" not in _shape_key("student", {**CNN_STUDENT, "trunk_blocks": 7})  # a CNN has no trunk
    assert _shape_key("mlp_student", {"hidden": (64,)}) == {"hidden": (64,)}


def test_runs_that_differ_have_different_keys():
    a = study()[0]
    assert a.key() != replace(a, seed=a.seed + 1).key()
    assert a.key() != replace(a, method=replace(a.method, distill=replace(a.method.distill, temperature=3.0))).key()
    assert a.key() == replace(a, table="elsewhere", method=replace(a.method, name="renamed")).key()


def test_the_teacher_at_the_students_side_is_measured_against_itself(small_dataset, teacher, monkeypatch, tmp_path):
    from kd.data import clipart, stamps
    from kd.study import experiments

    monkeypatch.setenv("KD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(experiments, "_teacher", lambda setting, seed: (small_dataset, teacher))
    monkeypatch.setattr(clipart, "available", lambda: False)
    monkeypatch.setattr(stamps, "available", lambda: False)
    reference = next(r for r in study(tables=("fidelity",)) if r.method.name == TEACHER_AT_48)
    assert reference.method.student == "teacher" and reference.method.student_args == AT_48
    # At the pictures' own side nothing is lost; at 8 px nearly everything is.
    whole = run_one(replace(reference, method=replace(reference.method, student_args={"image_size": 72})))
    assert whole["test_agreement"] == 1.0 and whole["test_accuracy"] == whole["teacher_test_accuracy"]
    tiny = run_one(replace(reference, method=replace(reference.method, student_args={"image_size": 8})))
    assert tiny["test_agreement"] < 1.0 and tiny["key"] != whole["key"]


@pytest.mark.slow
def test_a_study_run_trains_and_measures_a_real_student():
    classic = next(r for r in study() if r.table == "classic" and r.method.name == "logit KD")
    row = run_one(classic, epochs=2)
    assert row["key"] == classic.key() and row["student"] == "mlp_student"
    assert 0.2 < row["test_accuracy"] <= 1.0  # 9 classes: chance is ~0.11
    assert 0.0 <= row["test_agreement"] <= 1.0 and row["params"] > 100_000


def test_every_row_of_the_fidelity_table_is_recorded():
    """Renaming a row or changing a default (the student's widths, its epochs) must not orphan the
    runs recorded for it: every fidelity run's key is in experiments/runs.jsonl."""
    recorded = {json.loads(line)["key"] for line in (ROOT / "experiments" / "runs.jsonl").read_text().splitlines()}
    missing = [(r.method.name, r.seed) for r in study(tables=("fidelity",)) if r.key() not in recorded]
    assert missing == []
