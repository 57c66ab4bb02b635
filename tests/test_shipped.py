"""The checkpoints in the repo load, re-evaluate to their metrics.json, and meet the targets.

Each figure checked here is computed again from the shipped checkpoints (accuracy,
agreement, parameters, the out-of-domain block), then compared with what metrics.json
says; only latency is read from the file (speed is measured by benchmarks, not tests).
"""

import copy
import json

import pytest

from conftest import CHECKPOINTS
from kd import layout
from kd.study import record
from kd.models.checkpoint import read_config
from kd.config import SERVING_THREADS, DataConfig, from_dict
from kd.data.dataset import load_dataset
from kd.study.evaluate import CHECKS, SPEED_FIELDS, evaluate_folder, keep_speed

pytestmark = pytest.mark.slow
FOLDER = layout.Layout(CHECKPOINTS)


@pytest.fixture(scope="module")
def shipped():
    return json.loads(FOLDER.metrics.read_text())


@pytest.fixture(scope="module")
def reevaluated():
    return evaluate_folder(CHECKPOINTS, speed=False, progress=False)


def test_metrics_json_has_every_model_and_field(shipped):
    assert set(shipped["models"]) == set(layout.SHIPPED) | set(layout.EXPORTED)
    fields = {"accuracy", "macro_f1", "agreement", "kl_to_teacher", "ece", "params", "size_mb",
              "latency_ms_p50", "latency_ms_p95", "throughput_per_s", *CHECKS}
    for row in shipped["models"].values():
        assert fields <= set(row)
    assert shipped["settings"]["threads"] >= 1 and shipped["dataset"]["split"] == "test"
    assert shipped["settings"]["latency_threads"] == SERVING_THREADS  # timed as the app serves


def test_shipped_checkpoints_reevaluate_to_metrics_json(shipped, reevaluated):
    assert reevaluated["dataset"]["fingerprint"] == shipped["dataset"]["fingerprint"]
    for name, row in shipped["models"].items():
        again = reevaluated["models"][name]
        assert again["accuracy"] == pytest.approx(row["accuracy"], abs=0.01), name
        assert again["agreement"] == pytest.approx(row["agreement"], abs=0.01), name
        assert again["params"] == row["params"]
        for check in CHECKS:
            for view, scores in row[check].items():
                if view != "examples":
                    assert again[check][view]["agreement"] == pytest.approx(scores["agreement"], abs=0.01), (name, check, view)


def test_scores_can_be_renewed_keeping_the_timings_of_the_same_checkpoints(shipped, reevaluated):
    """`python -m kd evaluate --keep-speed`: new checks scored on a busy machine, the speed-up from one quiet run."""
    kept = keep_speed(copy.deepcopy(reevaluated), shipped)
    for name, row in kept["models"].items():
        assert {f: row[f] for f in SPEED_FIELDS} == {f: shipped["models"][name][f] for f in SPEED_FIELDS}
        assert row["accuracy"] == reevaluated["models"][name]["accuracy"]
    assert kept["settings"]["latency"] == shipped["settings"]["latency"] and "earlier run" in kept["settings"]["speed"]
    other = copy.deepcopy(shipped)
    other["models"][layout.STUDENT]["params"] += 1  # another student than the one timed
    with pytest.raises(ValueError, match="not the checkpoint the earlier metrics timed"):
        keep_speed(copy.deepcopy(reevaluated), other)
    del other["models"][layout.STUDENT]
    with pytest.raises(ValueError, match="no timings"):
        keep_speed(copy.deepcopy(reevaluated), other)


def test_student_is_20x_smaller_and_10x_faster(shipped, reevaluated):
    teacher, student = reevaluated["models"][layout.TEACHER], reevaluated["models"][layout.STUDENT]
    assert teacher["params"] >= 20 * student["params"]
    latency = {name: shipped["models"][name]["latency_ms_p50"] for name in (layout.TEACHER, layout.STUDENT)}
    assert latency[layout.TEACHER] >= 10 * latency[layout.STUDENT]


def test_the_shipped_student_learned_more_from_the_teacher_than_from_labels(reevaluated):
    """3 points or more over the same student on labels alone (the study checks it over seeds)."""
    student, scratch = reevaluated["models"][layout.STUDENT], reevaluated["models"][layout.SCRATCH]
    assert student["accuracy"] - scratch["accuracy"] >= 0.03
    assert student["agreement"] > scratch["agreement"]
    for check in CHECKS:
        for view in ("picture+text", "picture"):
            assert student[check][view]["agreement"] > scratch[check][view]["agreement"], (check, view)


def test_the_teachers_recorded_answers_match_the_shipped_teacher_and_the_data_built_here():
    config = read_config(FOLDER.teacher)
    dataset = load_dataset(from_dict(DataConfig, config["data"]), progress=False)
    outputs = record.load_teacher_outputs(FOLDER.teacher_outputs, dataset, config["weights_sha256"])
    assert outputs.logits.shape == (len(dataset), len(record.VIEWS), dataset.num_classes)
