"""Distillation on several processes: PyTorch's DistributedDataParallel, launched by torchrun.

    torchrun --standalone --nproc_per_node 2 -m kd distill --teacher checkpoints/teacher --out runs/ddp

torchrun starts one process per rank and sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT;
`setup()` reads them and joins the process group (gloo on CPU, nccl on GPUs). Then:

- **what shards**: the training rows. Every rank draws the same permutation each epoch and
  `DistributedSampler` hands rank r every world-th row of it, so the k-th step of all ranks
  together sees the k-th global batch a single process would see (each rank takes
  batch_size / world of it). Each rank samples its own transfer examples (its seed plus
  its rank), transfer_batch / world of them.
- **what is shared**: the student's gradients, averaged across ranks by DDP after every
  backward pass, so every rank keeps identical weights.
- **what does not shard**: the teacher's cached features and the data (each rank loads
  them), the validation after each epoch (every rank computes it, so all keep the same best
  epoch), BatchNorm statistics (per rank, over its share of the batch).
- **who writes**: rank 0 only saves the checkpoint and the state `--resume` continues from;
  every rank reads that state to resume.

Without torchrun (WORLD_SIZE unset or 1) nothing here runs: the single-process path is unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place among the ranks; `World()` is a single process."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the one that writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def share(self, global_batch: int, what: str = "batch size") -> int:
        """This rank's part of a global batch, which must split evenly."""
        if global_batch % self.size:
            raise ValueError(f"the {what} ({global_batch}) must be a multiple of the number of processes ({self.size})")
        return global_batch // self.size


def setup() -> World:
    """Join the process group torchrun describes in the environment (once); a single
    process when there is none."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def teardown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, world: World) -> torch.nn.Module:
    """`module` in DDP when distributed (gradients averaged across ranks), else itself."""
    if not world.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module)
