"""Training survives a crash: a run killed with SIGKILL and resumed ends as if never killed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

# The seed's classic MLPs train in seconds and go through the same Trainer as every model.
TEACHER = ["train-teacher", "--model", "mlp_teacher", "--epochs", "8", "--lr", "1e-3", "--threads", "1"]
STUDENT = ["distill", "--student", "mlp_student", "--epochs", "8", "--lr", "1e-3", "--threads", "1", "--no-transfer", "--student-init", "random"]


def kd(*args, **kwargs):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "kd", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def finish(*args) -> None:
    process = kd(*args)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err


def kill_mid_run(out, *args) -> None:
    """Start a run, let it write its resumable state, and SIGKILL it mid-epoch."""
    state = out / ".training-state.safetensors"
    process = kd(*args, "--out", str(out))
    deadline = time.time() + 240
    while not state.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert state.exists() and process.poll() is None, "the run ended before it could be killed"
    time.sleep(0.15)  # into the next epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "config.json").exists()  # it really died before finishing


def saved(out) -> dict:
    return json.loads((out / "config.json").read_text())


def test_killed_runs_resume_to_the_uninterrupted_result(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    finish(*TEACHER, "--out", str(whole / "teacher"))
    finish(*STUDENT, "--teacher", str(whole / "teacher"), "--out", str(whole / "student"))

    kill_mid_run(killed / "teacher", *TEACHER)
    finish(*TEACHER, "--out", str(killed / "teacher"), "--resume")
    kill_mid_run(killed / "student", *STUDENT, "--teacher", str(whole / "teacher"))
    finish(*STUDENT, "--teacher", str(whole / "teacher"), "--out", str(killed / "student"), "--resume")

    for name in ("teacher", "student"):
        a, b = saved(whole / name), saved(killed / name)
        # Tolerance: none. Every weight, every random draw and so every epoch's figures match.
        assert a["weights_sha256"] == b["weights_sha256"], name
        strip = lambda history: [{k: v for k, v in row.items() if k != "seconds"} for row in history]  # noqa: E731
        assert strip(a["history"]) == strip(b["history"]), name
        assert not (killed / name / ".training-state.safetensors").exists()  # cleaned up once saved


def test_resuming_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "teacher"
    kill_mid_run(out, *TEACHER)
    process = kd(*TEACHER[:-4], "--epochs", "9", "--lr", "1e-3", "--threads", "1", "--out", str(out), "--resume")
    _, err = process.communicate(timeout=300)
    assert process.returncode == 2 and "other settings" in err and "Traceback" not in err
