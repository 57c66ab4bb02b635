"""The teacher's recorded answers: its logits on every example, for each view a student can be shown.

Running the teacher's pretrained backbones over the 5,680 emoji takes minutes on 2 cores,
so its answers are recorded once, when the checkpoints are made:

    save_teacher_outputs(teacher, dataset, Layout().teacher_outputs)

holds its logits on every example for each view (picture and text, picture only, text
only, nothing), with the fingerprint of the data and the hash of the teacher's weights
they were recorded on. `RecordedTeacher` answers from that record, so the `Distiller`
trains a student on it (the demo's "Distill it yourself" tab, `kd.serving.live`) without running
the teacher at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from kd import cache
from kd.data.dataset import MultimodalDataset
from kd.models.checkpoint import weights_sha256
from kd.models.classifiers import Features, Teacher
from kd.study.evaluate import dataset_logits

OUTPUTS_FORMAT = "kd-teacher-outputs"
OUTPUTS_VERSION = 1
# The views a student may be shown, in the order the record holds the teacher's logits.
VIEWS = ("image+text", "image", "text", "none")
_VIEW_MODALITIES = {"image+text": ("image", "text"), "image": ("image",), "text": ("text",), "none": ()}


class RecordError(RuntimeError):
    """The record is missing, damaged or does not match; the message says what to do."""


@dataclass
class TeacherOutputs:
    """The teacher's logits on every example of one dataset, for each view in `VIEWS`."""

    logits: torch.Tensor  # (N, V, K), examples in the dataset's order
    classes: list[str]
    dataset_fingerprint: str  # `MultimodalDataset.fingerprint()` of the data they were recorded on
    teacher_sha256: str  # the teacher checkpoint's `weights_sha256`

    def view(self, name: str) -> torch.Tensor:
        """(N, K): the teacher's logits when shown `name` (one of `VIEWS`)."""
        return self.logits[:, VIEWS.index(name)]


@torch.no_grad()
def save_teacher_outputs(teacher: Teacher, dataset: MultimodalDataset, path: str | Path) -> Path:
    """Record `teacher`'s logits on every example of `dataset`, per view, in a safetensors
    file at `path` (~0.6 MB for 5,680 examples and 9 classes). Computed from the teacher's
    cached backbone features, so after training it takes a second."""
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
    }
    cache.save_tensors(Path(path), {"logits": logits.float()}, meta)
    return Path(path)


def load_teacher_outputs(
    path: str | Path, dataset: MultimodalDataset | None = None, teacher_sha256: str | None = None
) -> TeacherOutputs:
    """The record at `path`, checked against the data built here and the teacher loaded here
    (when given); anything else is a `RecordError` that says what to do."""
    path = Path(path)
    redo = "Record it again: python -m kd reproduce writes it beside the checkpoints."
    if not path.is_file():
        raise RecordError(f"No recorded teacher outputs at {path}. {redo}")
    loaded = cache.load_tensors(path)
    if loaded is None:
        raise RecordError(f"The file {path} is not a readable safetensors file (truncated or damaged?). {redo}")
    tensors, meta = loaded
    if meta.get("format") != OUTPUTS_FORMAT or meta.get("format_version") != OUTPUTS_VERSION or meta.get("views") != list(VIEWS):
        raise RecordError(f"The file {path} is not a record of teacher outputs that this kd reads. {redo}")
    logits, classes = tensors.get("logits"), meta.get("classes", [])
    examples = meta.get("dataset", {}).get("examples")
    if logits is None or logits.dtype != torch.float32 or tuple(logits.shape) != (examples, len(VIEWS), len(classes)):
        raise RecordError(f"The file {path} does not hold one row of logits per example, view and class. {redo}")
    fingerprint = meta["dataset"].get("fingerprint")
    if dataset is not None and fingerprint != dataset.fingerprint():
        raise RecordError(
            f"The teacher outputs in {path} were recorded on dataset {fingerprint}, but the data built here is "
            f"{dataset.fingerprint()} (a missing art style or other package versions?). {redo}"
        )
    if teacher_sha256 is not None and meta.get("teacher_sha256") != teacher_sha256:
        raise RecordError(f"The teacher outputs in {path} were recorded with another teacher than the one loaded here. {redo}")
    return TeacherOutputs(logits, classes, fingerprint, meta.get("teacher_sha256", ""))


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
