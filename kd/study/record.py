"""The teacher's recorded answers: its logits on every example, for each view a student can be shown.

Running the teacher's pretrained backbones over the 5,680 emoji takes minutes on 2 cores,
so its answers are recorded once, when the checkpoints are made:

    save_teacher_outputs(teacher, dataset, Layout().teacher_outputs)

holds its logits on every example for each view (picture and text, picture only, text
only, nothing), with the fingerprint of the data and the hash of the teacher's weights
they were recorded on, and each example's key: its group (an emoji's code points), its
style, and a short hash of its canonical picture and text. `RecordedTeacher` answers from
that record, so the `Distiller` trains a student on it (the demo's "Distill it yourself"
tab, `kd.serving.live`) without running the teacher at all.

The keys let a machine that builds part of the data use the record: without Debian's
Noto font the emoji dataset has two art styles, not three, and `TeacherOutputs.match`
finds the recorded answer of every example it does have (by key, its hash checked).
A record of the first format (no keys) is used only on the very data it was made on.

    outputs = load_teacher_outputs(Layout().teacher_outputs, teacher_sha256=...)
    rows, answers = outputs.match(dataset)   # the dataset's rows that were recorded, their answers
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from kd import cache
from kd.config import DataConfig, from_dict
from kd.data.dataset import MultimodalDataset, load_dataset
from kd.layout import Layout
from kd.models.checkpoint import load_checkpoint, weights_sha256
from kd.models.classifiers import Features, Teacher
from kd.study.evaluate import dataset_logits

OUTPUTS_FORMAT = "kd-teacher-outputs"
OUTPUTS_VERSION = 2  # 2: each example's key; 1 (still read): none, so only the very data it was made on
READABLE_VERSIONS = (1, 2)
# The views a student may be shown, in the order the record holds the teacher's logits.
VIEWS = ("image+text", "image", "text", "none")
_VIEW_MODALITIES = {"image+text": ("image", "text"), "image": ("image",), "text": ("text",), "none": ()}
# Below this share of the data built here found in the record, the live tab refuses. A
# machine missing an art style finds every example it built (the record holds more); one
# with other emoji or font packages draws or names most emoji differently and finds few.
MIN_MATCHED = 0.5
REDO = "Record it again: python -m kd record (from the teacher in checkpoints/, seconds), or python -m kd reproduce."


class RecordError(RuntimeError):
    """The record is missing, damaged or does not match; the message says what to do."""


def example_keys(dataset: MultimodalDataset) -> list[str]:
    """Each example's key, "group/style/hash": the emoji's code points, its art style, and the
    first 12 hex digits of the SHA-256 of its canonical picture's bytes and its text (what
    the teacher's answer depends on), so an example drawn differently elsewhere (another
    font or package version) does not match."""
    keys = []
    for image, text, group, style in zip(dataset.images, dataset.texts, dataset.groups, dataset.styles):
        digest = hashlib.sha256(image.numpy().tobytes())
        digest.update(text.encode())
        keys.append(f"{group}/{style}/{digest.hexdigest()[:12]}")
    return keys


@dataclass
class TeacherOutputs:
    """The teacher's logits on every example of one dataset, for each view in `VIEWS`."""

    logits: torch.Tensor  # (N, V, K), examples in the dataset's order
    classes: list[str]
    dataset_fingerprint: str  # `MultimodalDataset.fingerprint()` of the data they were recorded on
    teacher_sha256: str  # the teacher checkpoint's `weights_sha256`
    keys: list[str] | None = None  # `example_keys` of that data; None in a first-format record
    path: str = "the record"  # where it was read from, for messages

    def view(self, name: str) -> torch.Tensor:
        """(N, K): the teacher's logits when shown `name` (one of `VIEWS`)."""
        return self.logits[:, VIEWS.index(name)]

    @property
    def styles(self) -> list[str]:
        """The art styles recorded, in the order they first appear."""
        return list(dict.fromkeys(key.split("/")[1] for key in self.keys or []))

    def match(self, dataset: MultimodalDataset, min_matched: float = MIN_MATCHED) -> tuple[torch.Tensor, TeacherOutputs]:
        """The rows of `dataset` whose examples were recorded (same group, style, picture and
        text), and the recorded answers in that order: all of them on the data the record was
        made on, fewer where a style is missing here. `RecordError` when less than
        `min_matched` of `dataset`, or no example of a split, is found: other data."""
        if dataset.classes != self.classes:
            raise RecordError(f"The teacher outputs in {self.path} name other classes than the data built here. {REDO}")
        if self.keys is None:  # a first-format record: the very same data, or nothing
            if self.dataset_fingerprint != dataset.fingerprint():
                raise RecordError(
                    f"The teacher outputs in {self.path} were recorded on dataset {self.dataset_fingerprint}, but the data "
                    f"built here is {dataset.fingerprint()} (a missing art style or other package versions?), and the "
                    f"record is of the first format, which cannot match single examples. {REDO}"
                )
            return torch.arange(len(dataset)), self
        recorded = {key: i for i, key in enumerate(self.keys)}
        found = [(i, recorded[key]) for i, key in enumerate(example_keys(dataset)) if key in recorded]
        rows = torch.tensor([i for i, _ in found], dtype=torch.long)
        splits = Counter(dataset.splits[i] for i, _ in found)
        if len(found) < min_matched * len(dataset) or not all(splits[s] for s in set(dataset.splits)):
            raise RecordError(
                f"Only {len(found)} of the {len(dataset)} examples built here have a recorded teacher answer in "
                f"{self.path}: it was recorded on other data (other emoji or font packages, or another teacher's "
                f"data), so a student trained on it here would learn the wrong answers. {REDO}"
            )
        picked = torch.tensor([j for _, j in found], dtype=torch.long)
        return rows, TeacherOutputs(
            self.logits[picked], self.classes, self.dataset_fingerprint, self.teacher_sha256,
            [self.keys[j] for j in picked.tolist()], self.path,
        )


@torch.no_grad()
def save_teacher_outputs(teacher: Teacher, dataset: MultimodalDataset, path: str | Path) -> Path:
    """Record `teacher`'s logits on every example of `dataset`, per view, with each example's
    key, in a safetensors file at `path` (~1 MB for 5,680 examples and 9 classes). Computed
    from the teacher's cached backbone features, so after training it takes seconds."""
    if teacher.config.num_classes != dataset.num_classes:
        raise ValueError(f"the teacher knows {teacher.config.num_classes} classes, the data has {dataset.num_classes}")
    logits = torch.stack([dataset_logits(teacher, dataset, _VIEW_MODALITIES[v]) for v in VIEWS], dim=1)  # (N, V, K)
    meta = {
        "format": OUTPUTS_FORMAT,
        "format_version": OUTPUTS_VERSION,
        "views": list(VIEWS),
        "classes": dataset.classes,
        "dataset": dataset.summary(),
        "teacher_sha256": weights_sha256(teacher),
        "keys": example_keys(dataset),
    }
    cache.save_tensors(Path(path), {"logits": logits.float()}, meta)
    return Path(path)


def record_teacher_outputs(checkpoints: str | Path, progress: bool = True) -> Path:
    """Rewrite `checkpoints`' record from the teacher saved there and the data it was
    trained on (rebuilt, or read from the cache): seconds with a warm cache, ~7 minutes cold
    (the backbones' features). `python -m kd record` runs it; `reproduce` records as it trains."""
    folder = Layout(checkpoints)
    teacher, config = load_checkpoint(folder.teacher)
    dataset = load_dataset(from_dict(DataConfig, config["data"]), progress=progress)
    return save_teacher_outputs(teacher.eval(), dataset, folder.teacher_outputs)


def load_teacher_outputs(
    path: str | Path, dataset: MultimodalDataset | None = None, teacher_sha256: str | None = None
) -> TeacherOutputs:
    """The record at `path`, checked against the teacher loaded here (when given). With
    `dataset`, the answers on that dataset's examples in its order, every one of them
    recorded (`TeacherOutputs.match` takes the part that was). Anything else is a
    `RecordError` that says what to do."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"No recorded teacher outputs at {path}. {REDO}")
    loaded = cache.load_tensors(path)
    if loaded is None:
        raise RecordError(f"The file {path} is not a readable safetensors file (truncated or damaged?). {REDO}")
    tensors, meta = loaded
    version = meta.get("format_version")
    if meta.get("format") != OUTPUTS_FORMAT or version not in READABLE_VERSIONS or meta.get("views") != list(VIEWS):
        raise RecordError(f"The file {path} is not a record of teacher outputs that this kd reads. {REDO}")
    logits, classes = tensors.get("logits"), meta.get("classes", [])
    examples = meta.get("dataset", {}).get("examples")
    if logits is None or logits.dtype != torch.float32 or tuple(logits.shape) != (examples, len(VIEWS), len(classes)):
        raise RecordError(f"The file {path} does not hold one row of logits per example, view and class. {REDO}")
    keys = meta.get("keys") if version >= 2 else None
    if version >= 2 and (not isinstance(keys, list) or len(keys) != examples):
        raise RecordError(f"The file {path} does not name every example it holds. {REDO}")
    if teacher_sha256 is not None and meta.get("teacher_sha256") != teacher_sha256:
        raise RecordError(f"The teacher outputs in {path} were recorded with another teacher than the one loaded here. {REDO}")
    outputs = TeacherOutputs(logits, classes, meta["dataset"].get("fingerprint"), meta.get("teacher_sha256", ""), keys, str(path))
    if dataset is None:
        return outputs
    return outputs.match(dataset, min_matched=1.0)[1]


class RecordedTeacher(nn.Module):
    """The teacher as the `Distiller` sees it, answering from its record instead of its head.

    Its "features" are its recorded logits per view, (B, V, K): the `Distiller` carries them
    through the batch's `teacher_*` keys untouched, as it carries the classic MLP's pixels,
    and masks modalities on the presence flags beside them. `forward_head` then returns the
    logits the real teacher gave for the view left: what its head computes on the masked
    features, without the backbones.
    """

    def __init__(self, num_classes: int):
        super().__init__()
        self.fused_dim = num_classes  # no embedding was recorded: hints are not available

    def forward_head(self, features: Features) -> tuple[torch.Tensor, torch.Tensor]:
        has_image, has_text = features.has_image, features.has_text
        view = torch.where(has_image & has_text, 0, torch.where(has_image, 1, torch.where(has_text, 2, 3)))  # (B,)
        logits = features.image[torch.arange(len(view)), view]  # (B, K)
        return logits, logits

    @staticmethod
    def features(logits: torch.Tensor, has_text: torch.Tensor) -> dict[str, torch.Tensor]:
        """Batch tensors under the `teacher_*` keys the `Distiller` reads, for (N, V, K) logits."""
        n = len(logits)
        return {
            "teacher_image": logits,
            "teacher_text": torch.zeros(n, 1),
            "teacher_has_image": torch.ones(n, dtype=torch.bool),
            "teacher_has_text": has_text,
        }
