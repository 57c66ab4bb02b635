"""The command line: a card for the data, and clear one-line errors instead of tracebacks."""

import hashlib
import json
import os
import subprocess
import sys

from conftest import ROOT
from demo_helpers import pickle_that_writes


def run_kd(*args, cwd=ROOT):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "kd", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_data_prints_the_dataset_card():
    result = run_kd("data", "--styles", "twemoji")
    assert result.returncode == 0, result.stderr
    assert "# Dataset: emoji-category" in result.stdout and "CC-BY 4.0" in result.stdout


def test_evaluate_on_a_pickle_is_a_clear_error_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle_that_writes(marker)  # loading it would create the marker
    folder = tmp_path / "checkpoints" / "teacher"
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(payload)
    result = run_kd("evaluate", "--checkpoints", str(tmp_path / "checkpoints"), "--no-speed")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")
    assert "teacher/model.pt: pickle files, which kd never loads" in result.stderr
    assert not marker.exists()

    (folder / "config.json").write_text("{not json")  # now it looks like a checkpoint, but is broken
    result = run_kd("evaluate", "--checkpoints", str(tmp_path / "checkpoints"), "--no-speed")
    assert result.returncode == 2 and "not valid JSON" in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()

    # The pickle renamed model.safetensors, its hash recorded as a real save would: the
    # hash check passes, and safetensors refuses to read it.
    (folder / "model.pt").rename(folder / "model.safetensors")
    config = {"format": "kd-checkpoint", "format_version": 1, "model": "teacher", "kind": "teacher", "model_args": {},
              "classes": ["a", "b"], "data": {}, "weights_sha256": hashlib.sha256(payload).hexdigest()}
    (folder / "config.json").write_text(json.dumps(config))
    result = run_kd("evaluate", "--checkpoints", str(tmp_path / "checkpoints"), "--no-speed")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "teacher/model.safetensors is not a readable safetensors file" in result.stderr
    assert not marker.exists()


def test_bad_csv_rows_are_listed_by_the_cli(tmp_path):
    (tmp_path / "data.csv").write_text("image,text,label\nmissing.png,hello,a\n")
    result = run_kd("data", "--source", str(tmp_path / "data.csv"))
    assert result.returncode == 2 and "line 2: image file not found: missing.png" in result.stderr


def test_heads_that_a_teacher_cannot_have_are_a_clear_error(tmp_path):
    for args, message in ((("--model", "mlp_teacher", "--heads", "3"), "mlp_teacher has no fusion heads"),
                          (("--heads", "0"), "takes one or more fusion heads")):
        result = run_kd("train-teacher", *args, "--out", str(tmp_path / "teacher"))
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "teacher").exists()
