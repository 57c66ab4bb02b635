"""Distillation on 2 CPU processes (torchrun + DDP, gloo) matches one process, and resumes after a kill.

The seed's classic MLPs keep it quick: they train in seconds through the same Trainer,
Distiller and CLI as every model, and have no BatchNorm, whose per-rank statistics would
be the one part that is not shared.
"""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT
from kd.training.distributed import World
from kd.training.train import TensorLoader

pytestmark = pytest.mark.slow

TEACHER = ["train-teacher", "--model", "mlp_teacher", "--epochs", "4", "--lr", "1e-3", "--threads", "1"]
STUDENT = ["distill", "--student", "mlp_student", "--epochs", "2", "--lr", "1e-3", "--threads", "1", "--batch-size", "128",
           "--no-transfer", "--no-pictures", "--views", "0", "--student-init", "random"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "kd"]
# 2 processes against 1, the same global batches: the gradients are the same means, summed in
# another order, and the sampler repeats at most one row to even out the last batch.
WEIGHT_TOLERANCE = 2e-3


def start(command: list[str], *args) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([*command, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def finish(command: list[str], *args) -> str:
    process = start(command, *args)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return out


def weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp") / "teacher"
    finish([sys.executable, "-m", "kd"], *TEACHER, "--out", str(folder))
    return folder


def test_two_processes_learn_what_one_process_learns(teacher, tmp_path):
    finish([sys.executable, "-m", "kd"], *STUDENT, "--teacher", str(teacher), "--out", str(tmp_path / "one"))
    said = finish(TORCHRUN, *STUDENT, "--teacher", str(teacher), "--out", str(tmp_path / "two"))
    assert "on 2 processes" in said
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert one.keys() == two.keys()
    for name in one:
        assert (one[name] - two[name]).abs().max() < WEIGHT_TOLERANCE, name
    assert not (tmp_path / "two" / ".training-state.safetensors").exists()  # cleaned up by rank 0


def test_a_killed_two_process_run_resumes_to_the_uninterrupted_result(teacher, tmp_path):
    args = [*STUDENT, "--epochs", "3", "--teacher", str(teacher)]
    finish(TORCHRUN, *args, "--out", str(tmp_path / "whole"))

    killed = tmp_path / "killed"
    state = killed / ".training-state.safetensors"
    process = start(TORCHRUN, *args, "--out", str(killed))
    deadline = time.time() + 240
    while not state.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert state.exists() and process.poll() is None, "the run ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)  # torchrun and both ranks
    process.wait()
    assert not (killed / "config.json").exists()

    finish(TORCHRUN, *args, "--out", str(killed), "--resume")
    whole, resumed = weights(tmp_path / "whole"), weights(killed)
    for name in whole:
        assert torch.allclose(whole[name], resumed[name], atol=1e-6), name


def test_the_shards_of_two_ranks_are_the_batches_of_one():
    tensors = {"x": torch.arange(21)}
    one = [b["x"] for b in TensorLoader(tensors, 8, seed=3)]
    ranks = [[b["x"] for b in TensorLoader(tensors, 8, seed=3, world=World(rank, 2))] for rank in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == len(one)
    for k, batch in enumerate(one):
        together = torch.cat([ranks[0][k], ranks[1][k]])
        assert set(batch.tolist()) <= set(together.tolist()) and len(together) - len(batch) <= 1
    with pytest.raises(ValueError, match="multiple of the number of processes"):
        TensorLoader(tensors, 7, world=World(0, 2))
