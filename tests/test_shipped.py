"""The checkpoints in the repo load, re-evaluate to their metrics.json, and meet the targets."""

import json

import pytest

from conftest import CHECKPOINTS
from kd.evaluate import evaluate_folder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped():
    return json.loads((CHECKPOINTS / "metrics.json").read_text())


@pytest.fixture(scope="module")
def reevaluated():
    return evaluate_folder(CHECKPOINTS, speed=False, progress=False)


def test_metrics_json_has_every_model_and_field(shipped):
    assert set(shipped["models"]) == {"teacher", "student", "student_scratch", "student_image", "student_text"}
    fields = {"accuracy", "macro_f1", "agreement", "kl_to_teacher", "ece", "params", "size_mb",
              "latency_ms_p50", "latency_ms_p95", "throughput_per_s"}
    for row in shipped["models"].values():
        assert fields <= set(row)
    assert shipped["settings"]["threads"] >= 1 and shipped["dataset"]["split"] == "test"


def test_shipped_checkpoints_reevaluate_to_metrics_json(shipped, reevaluated):
    assert reevaluated["dataset"]["fingerprint"] == shipped["dataset"]["fingerprint"]
    for name, row in shipped["models"].items():
        again = reevaluated["models"][name]
        assert again["accuracy"] == pytest.approx(row["accuracy"], abs=0.01), name
        assert again["agreement"] == pytest.approx(row["agreement"], abs=0.01), name
        assert again["params"] == row["params"]


def test_student_is_20x_smaller_and_10x_faster_in_the_shipped_figures(shipped):
    teacher, student = shipped["models"]["teacher"], shipped["models"]["student"]
    assert teacher["params"] >= 20 * student["params"]
    assert teacher["latency_ms_p50"] >= 10 * student["latency_ms_p50"]


def test_the_shipped_student_learned_more_from_the_teacher_than_from_labels(shipped):
    """The issue's target under the shipped setting: 3 points or more over the same student
    on labels alone (the study checks it over seeds)."""
    student, scratch = shipped["models"]["student"], shipped["models"]["student_scratch"]
    assert student["accuracy"] - scratch["accuracy"] >= 0.03
    assert student["agreement"] > scratch["agreement"]


def test_the_teachers_recorded_answers_match_the_shipped_teacher_and_the_data_built_here():
    from kd import live
    from kd.checkpoint import read_config
    from kd.config import DataConfig, from_dict
    from kd.data import load_dataset

    config = read_config(CHECKPOINTS / "teacher")
    dataset = load_dataset(from_dict(DataConfig, config["data"]), progress=False)
    outputs = live.load_teacher_outputs(CHECKPOINTS / live.OUTPUTS_FILE, dataset, config["weights_sha256"])
    assert outputs.logits.shape == (len(dataset), len(live.VIEWS), dataset.num_classes)
