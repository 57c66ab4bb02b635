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
    assert {"teacher", "student", "student_scratch"} <= set(shipped["models"])
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
