"""A training loop that knows nothing about distillation.

`Trainer` fits a module by minimising the sum of the named losses a `step(batch)` returns,
keeps the weights of the epoch with the best validation score, and records one row of
history per epoch. Whether the losses come from labels (`LabelsOnly`, for the teacher's
head) or from a teacher (`kd.distill.Distiller`) is the step's business.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable, Iterator, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from kd.config import TrainConfig
from kd.models import Features

Batch = dict[str, torch.Tensor]


class Step(Protocol):
    def __call__(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]: ...


class TensorLoader:
    """Minibatches of a dict of equal-length tensors; reshuffled each epoch by its own generator."""

    def __init__(self, tensors: Batch, batch_size: int, shuffle: bool = True, seed: int = 0):
        lengths = {len(v) for v in tensors.values()}
        if len(lengths) != 1:
            raise ValueError(f"tensors of unequal length: { {k: len(v) for k, v in tensors.items()} }")
        self.tensors, self.batch_size, self.shuffle = tensors, batch_size, shuffle
        self.n = lengths.pop()
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            idx = order[start : start + self.batch_size]
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
    """Cross-entropy on a model's head over precomputed features: trains the teacher's head."""

    def __init__(self, model: nn.Module, modality_dropout: float, seed: int):
        self.model = model
        self.modality_dropout = modality_dropout
        self.generator = torch.Generator().manual_seed(seed + 1)

    def __call__(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        keep_image, keep_text = drop_modalities(len(batch["labels"]), self.modality_dropout, self.generator)
        features = features_from_batch(batch).masked(keep_image, keep_text)
        logits, _ = self.model.forward_head(features)
        return logits, {"loss_ce": F.cross_entropy(logits, batch["labels"])}


class Trainer:
    """AdamW with a cosine schedule over `config.epochs`; returns one history row per epoch.

    `evaluate()` is called after every epoch and returns metrics (it must include
    `val_accuracy`); the module's weights from the best epoch are restored at the end.
    `on_epoch(row)` callbacks see each row as it is made (live curves in the app).
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
    ):
        self.module, self.step, self.config, self.evaluate = module, step, config, evaluate
        self.parameters = [p for p in (parameters or module.parameters()) if p.requires_grad]
        self.on_epoch, self.progress, self.desc = list(on_epoch), progress, desc

    def fit(self, loader: TensorLoader) -> list[dict]:
        config = self.config
        optimizer = torch.optim.AdamW(self.parameters, lr=config.lr, weight_decay=config.weight_decay)
        total = max(1, config.epochs * len(loader))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, total) / total)))
        history, best_score, best_state = [], -math.inf, None
        bar = tqdm(total=total, desc=self.desc, disable=not self.progress, mininterval=0.5, dynamic_ncols=True)
        start = time.perf_counter()
        for epoch in range(1, config.epochs + 1):
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
            self.module.eval()
            row = {"epoch": epoch, **{k: v / seen for k, v in sums.items()}}
            row["loss"] = sum(v for k, v in row.items() if k.startswith("loss_"))
            row["train_accuracy"] = correct / max(seen_labelled, 1)
            row.update(self.evaluate())
            row["seconds"] = time.perf_counter() - start
            history.append(row)
            bar.set_postfix(epoch=epoch, loss=f"{row['loss']:.3f}", val_acc=f"{row['val_accuracy']:.3f}")
            if row["val_accuracy"] > best_score:
                best_score, best_state = row["val_accuracy"], copy.deepcopy(self.module.state_dict())
            for callback in self.on_epoch:
                callback(row)
        bar.close()
        if best_state is not None:
            self.module.load_state_dict(best_state)
        self.module.eval()
        return history
