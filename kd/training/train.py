"""A training loop that knows nothing about distillation.

`Trainer` fits a module by minimising the sum of the named losses a `step(batch)` returns,
keeps the weights of the epoch with the best validation score, and records one row of
history per epoch. Whether the losses come from labels (`LabelsOnly`, for the teacher's
head) or from a teacher (`kd.training.distill.Distiller`) is the step's business.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from pathlib import Path
from typing import Callable, Iterator, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm

from kd import cache
from kd.config import TrainConfig
from kd.models.classifiers import Features
from kd.training.distributed import World

Batch = dict[str, torch.Tensor]


class Step(Protocol):
    def __call__(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


class TensorLoader:
    """Minibatches of a dict of equal-length tensors; reshuffled each epoch by its own generator.

    Across several processes (`world`, see kd.training.distributed) every rank draws the same
    permutation and `DistributedSampler` gives rank r every world-th row of it, so the k-th
    batches of all ranks together are the k-th batch of `batch_size` one process would see.
    """

    def __init__(self, tensors: Batch, batch_size: int, shuffle: bool = True, seed: int = 0, world: World = World()):
        lengths = {len(v) for v in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f"tensors of unequal length: { {k: len(v) for k, v in tensors.items()} }")
        self.tensors, self.batch_size, self.shuffle, self.world = tensors, batch_size, shuffle, world
        self.rank_batch = world.share(batch_size)
        self.n = lengths.pop()
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
        if self.world.distributed:
            # The sampler pads the rows to a multiple of the world by repeating the first ones.
            mine = DistributedSampler(range(self.n), num_replicas=self.world.size, rank=self.world.rank, shuffle=False)
            order = order[torch.tensor(list(mine))]
        for start in range(0, len(order), self.rank_batch):
            idx = order[start : start + self.rank_batch]
            yield {k: v[idx] for k, v in self.tensors.items()}


def drop_modalities(batch_size: int, p: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks (keep_image, keep_text): each example loses its image with chance p, or its
    text with chance p, never both, so it always keeps something to answer from."""
    if not 0 <= p <= 0.5:
        raise ValueError(f"modality_dropout must be in [0, 0.5], got {p}")
    u = torch.rand(batch_size, generator=generator)
    return ~(u < p), ~((u >= p) & (u < 2 * p))


def features_from_batch(batch: Batch, prefix: str = "") -> Features:
    """The `Features` stored in a batch under `<prefix>image`, `<prefix>text`, ... keys."""
    return Features(batch[prefix + "image"], batch[prefix + "text"], batch[prefix + "has_image"], batch[prefix + "has_text"])


class LabelsOnly:
    """Cross-entropy on a head over precomputed features: trains a teacher's head. `head` maps
    `Features` to (logits, fused): a model's `forward_head`, or one head of an ensemble."""

    def __init__(self, head: Callable[[Features], tuple[torch.Tensor, torch.Tensor]], modality_dropout: float, seed: int):
        self.head = head
        self.modality_dropout = modality_dropout
        self.generator = torch.Generator().manual_seed(seed + 1)

    def __call__(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        keep_image, keep_text = drop_modalities(len(batch["labels"]), self.modality_dropout, self.generator)
        features = features_from_batch(batch).masked(keep_image, keep_text)
        logits, _ = self.head(features)
        return logits, {"loss_ce": F.cross_entropy(logits, batch["labels"])}


class ResumeError(ValueError):
    """A saved training state cannot be resumed; the message says why and what to do."""


class TrainingStopped(RuntimeError):
    """`should_stop()` asked the trainer to stop before the last epoch. The module holds the
    best epoch's weights so far (if an epoch ended) and `history` the epochs that did."""

    def __init__(self, message: str, history: list[dict]):
        super().__init__(message)
        self.history = history


def kept_row(history: list[dict], keep: str = "val_accuracy") -> dict:
    """The history row of the epoch whose weights `Trainer(keep=keep)` restores."""
    return history[-1] if keep == "last" else max(history, key=lambda row: row[keep])


class Trainer:
    """AdamW with a cosine schedule over `config.epochs`; returns one history row per epoch.

    `evaluate()` is called after every epoch and returns metrics; at the end the module gets
    back the weights of the epoch with the highest `keep` metric (default `val_accuracy`),
    or keeps the last epoch's with `keep="last"`.
    `on_epoch(row)` callbacks see each row as it is made (live curves in the app), and
    `should_stop()`, asked after every step, ends training early with `TrainingStopped`,
    the best epoch so far restored.

    With a `state_path`, everything needed to continue (weights, optimizer, schedule,
    history, best weights so far and every random generator in play) is written there
    atomically after each epoch, and `fit(loader, resume=True)` continues from it: a run
    killed at any moment and resumed ends as the uninterrupted run would have. Across
    several processes (`world`), rank 0 writes the state and shows progress; `step` is then
    the DDP-wrapped step (kd.training.distributed), which averages the gradients.
    """

    def __init__(
        self,
        module: nn.Module,
        step: Step,
        config: TrainConfig,
        evaluate: Callable[[], dict[str, float]],
        parameters: list[nn.Parameter] | None = None,
        on_epoch: list[Callable[[dict], None]] = (),
        progress: bool = True,
        desc: str = "train",
        should_stop: Callable[[], bool] | None = None,
        state_path: Path | None = None,
        generators: list[torch.Generator] = (),
        world: World = World(),
        keep: str = "val_accuracy",
    ):
        self.module, self.step, self.config, self.evaluate = module, step, config, evaluate
        self.keep = keep
        self.parameters = [p for p in (parameters or module.parameters()) if p.requires_grad]
        self.on_epoch, self.progress, self.desc = list(on_epoch), progress, desc
        self.should_stop = should_stop or (lambda: False)
        self.state_path, self.generators, self.world = state_path, list(generators), world

    def fit(self, loader: TensorLoader, resume: bool = False) -> list[dict]:
        config = self.config
        optimizer = torch.optim.AdamW(self.parameters, lr=config.lr, weight_decay=config.weight_decay)
        total = max(1, config.epochs * len(loader))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, total) / total)))
        run = {"history": [], "best_score": -math.inf, "best_state": None}
        generators = [loader.generator, *self.generators]
        if resume and self.state_path is not None and self.state_path.is_file():
            run = self._load_state(optimizer, schedule, generators)
        history = run["history"]
        bar = tqdm(total=total, initial=len(history) * len(loader), desc=self.desc, disable=not (self.progress and self.world.main), mininterval=0.5, dynamic_ncols=True)
        start = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
        for epoch in range(len(history) + 1, config.epochs + 1):
            self.module.train()
            sums, correct, seen, seen_labelled = {}, 0, 0, 0
            for batch in loader:
                logits, losses = self.step(batch)
                loss = sum(losses.values())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + value.item() * len(logits)
                # Accuracy on the examples whose labels training may use.
                labelled = batch.get("labelled", torch.ones(len(logits), dtype=torch.bool))
                correct += (logits.argmax(1) == batch["labels"])[labelled].sum().item()
                seen += len(logits)
                seen_labelled += labelled.sum().item()
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}", acc=f"{correct / max(seen_labelled, 1):.3f}", refresh=False)
                if self.should_stop():
                    bar.close()
                    self._restore_best(run)
                    raise TrainingStopped(f"stopped during epoch {epoch}", history)
            self.module.eval()
            row = {"epoch": epoch, **{k: v / seen for k, v in sums.items()}}
            row["loss"] = sum(v for k, v in row.items() if k.startswith("loss_"))
            row["train_accuracy"] = correct / max(seen_labelled, 1)
            row.update(self.evaluate())
            row["seconds"] = time.perf_counter() - start
            history.append(row)
            bar.set_postfix(epoch=epoch, loss=f"{row['loss']:.3f}", val_acc=f"{row['val_accuracy']:.3f}")
            score = epoch if self.keep == "last" else row[self.keep]
            if score > run["best_score"]:
                run["best_score"], run["best_state"] = score, copy.deepcopy(self.module.state_dict())
            if self.state_path is not None:
                self._save_state(run, optimizer, schedule, generators)
            for callback in self.on_epoch:
                callback(row)
        bar.close()
        self._restore_best(run)
        return history

    def _restore_best(self, run: dict) -> None:
        if run["best_state"] is not None:
            self.module.load_state_dict(run["best_state"])
        self.module.eval()

    # A resumable state is one safetensors file: tensors under prefixed names, the rest as JSON.

    def _extra_parameters(self) -> list[tuple[int, nn.Parameter]]:
        """Trained parameters outside the module (a hint projection), by optimizer index."""
        own = {id(p) for p in self.module.parameters()}
        return [(i, p) for i, p in enumerate(self.parameters) if id(p) not in own]

    def _save_state(self, run: dict, optimizer, schedule, generators: list[torch.Generator]) -> None:
        tensors = {f"module.{k}": v for k, v in self.module.state_dict().items()}
        tensors |= {f"param.{i}": p.detach() for i, p in self._extra_parameters()}
        tensors |= {f"best.{k}": v for k, v in (run["best_state"] or {}).items()}
        opt = optimizer.state_dict()
        for i, state in opt["state"].items():
            tensors |= {f"optim.{i}.{k}": v for k, v in state.items()}
        # Every rank's random generators (they differ: each samples its own transfer examples);
        # rank 0 writes them all, and every rank resumes from that one file.
        states = [g.get_state() for g in generators] + [torch.get_rng_state()]
        every_rank = [states]
        if self.world.distributed:
            every_rank = [None] * self.world.size
            torch.distributed.all_gather_object(every_rank, states)
        if not self.world.main:
            torch.distributed.barrier()  # until rank 0 has written the state
            return
        for rank, rank_states in enumerate(every_rank):
            tensors |= {f"rng.rank{rank}.{i}": state for i, state in enumerate(rank_states)}
        meta = {
            "history": run["history"],
            "best_score": run["best_score"],
            "param_groups": opt["param_groups"],
            "schedule": schedule.state_dict(),
            "config": dataclasses.asdict(self.config),
        }
        cache.save_tensors(self.state_path, tensors, meta)
        if self.world.distributed:
            torch.distributed.barrier()

    def _load_state(self, optimizer, schedule, generators: list[torch.Generator]) -> dict:
        loaded = cache.load_tensors(self.state_path)
        if loaded is None:
            raise ResumeError(f"{self.state_path} is not a readable training state; delete it to start afresh.")
        tensors, meta = loaded
        if meta["config"] != dataclasses.asdict(self.config):
            raise ResumeError(f"{self.state_path} was saved by a run with other settings; delete it or resume with the same ones.")

        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        self.module.load_state_dict(part("module."))
        with torch.no_grad():
            for i, p in self._extra_parameters():
                p.copy_(tensors[f"param.{i}"])
        state: dict[int, dict] = {}
        for key, value in part("optim.").items():
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = value
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        schedule.load_state_dict(meta["schedule"])
        if f"rng.rank{self.world.rank}.0" not in tensors:
            raise ResumeError(f"{self.state_path} was saved by a run on fewer processes; resume with as many as it had.")
        states = [tensors[f"rng.rank{self.world.rank}.{i}"] for i in range(len(generators) + 1)]
        for g, state in zip(generators, states):
            g.set_state(state)
        torch.set_rng_state(states[-1])
        best = part("best.")
        return {"history": meta["history"], "best_score": meta["best_score"], "best_state": best or None}
