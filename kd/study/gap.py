"""The generalisation gap: how closely a student follows its teacher on the pictures it was
distilled on, against pictures of the same source it never saw.

    python -m kd gap                      # one line per source of pictures
    python -m kd gap --readme README.md   # and writes them into the README

For each source the shipped student learned from, its agreement with the teacher on the
pictures it trained on (seen) and on held-out pictures of the same source (unseen), with the
picture's own text and from the picture alone:

- emoji: the training split against the test split (held-out emoji, every art style);
- clip art: the transfer folders, as the student's recipe picked them, against the held-out
  folders (`kd.data.clipart`);
- stamps: the transfer two thirds against the stamps check (`kd.data.stamps`).

A student that had learned its teacher's function would follow it about as closely on both;
one that has learned the pictures it was shown follows it on those and less on the others.
On the unseen pictures it also splits the agreement by how sure the teacher is (its top
probability at T = 1 at least `SURE`, or less): a student may miss answers the teacher
itself hardly prefers, or answers it gives with conviction. Last, the baseline distillation
has to beat from the picture alone: the teacher's own network reading the unseen pictures at
the student's side (96 px, not its 224 px), against itself. A smaller picture is the obvious
way to make the teacher cheaper, and its pretrained blocks then see every picture at another
scale: the student, reading the same 96 px through the same first blocks, should follow the
teacher more closely than that.
The teacher's answers come from its cached backbone features, so only the first run waits
for the teacher (a few minutes on 2 cores), and its features at the student's side are
cached too (under a minute, once).
"""

from __future__ import annotations

import torch

from kd.config import DistillConfig
from kd.data import clipart, stamps
from kd.data.dataset import MultimodalDataset
from kd.models.classifiers import Features, MultimodalClassifier, Teacher
from kd.study.evaluate import VIEWS, agreement, dataset_logits
from kd.training.augment import picture_features

# The teacher's top probability (T = 1) from which it counts as sure of an answer.
SURE = 0.8


def follows(student: MultimodalClassifier, teacher: MultimodalClassifier, dataset: MultimodalDataset) -> dict[str, float]:
    """The student's agreement with the teacher on `dataset`, with its text and from the picture alone."""
    return {view: sides["all"] for view, sides in by_conviction(student, teacher, dataset).items()}


def by_conviction(student: MultimodalClassifier, teacher: MultimodalClassifier, dataset: MultimodalDataset) -> dict[str, dict]:
    """Per view, the student's agreement with the teacher on all of `dataset` (as `follows`), the
    share where the teacher is sure (top probability >= `SURE`), and the agreement there and on
    the rest (None where a side is empty)."""
    out = {}
    for view, modalities in VIEWS.items():
        teacher_logits, student_logits = dataset_logits(teacher, dataset, modalities), dataset_logits(student, dataset, modalities)
        sure = teacher_logits.softmax(1).max(1).values >= SURE
        out[view] = {"all": agreement(student_logits, teacher_logits), "sure_share": sure.float().mean().item(),
                     **{side: agreement(student_logits[mask], teacher_logits[mask]) if mask.any() else None
                        for side, mask in (("sure", sure), ("unsure", ~sure))}}
    return out


@torch.no_grad()
def picture_logits_at(teacher: Teacher, images: torch.Tensor, side: int) -> torch.Tensor:
    """(N, K) the teacher's picture-only logits with its image backbone reading the canonical
    pictures `images` at `side` px instead of its own input size (`picture_features`, cached)."""
    image = picture_features(teacher, images, progress=False, side=side)
    shown = torch.ones(len(images), dtype=torch.bool)
    return teacher.forward_head(Features(image, torch.zeros(len(images), teacher.text_backbone.out_dim), shown, ~shown))[0]


def _unlabelled(part, classes: list[str], name: str) -> MultimodalDataset:
    """Transfer pictures (a loaded clip-art or stamps part) and their own texts as a dataset. They
    are unlabelled: their labels are -1 and never read (agreement needs none)."""
    n = len(part.texts)
    return MultimodalDataset(images=part.images, texts=list(part.texts), labels=torch.full((n,), -1, dtype=torch.long),
                             classes=list(classes), groups=list(part.folders), styles=[name] * n, splits=["test"] * n, name=f"{name}-transfer")


def sources(dataset: MultimodalDataset, distill: DistillConfig, limit: int | None = None) -> dict[str, tuple[MultimodalDataset, MultimodalDataset]]:
    """(seen, unseen) pictures of each source the student trained on (its recipe, `distill`)
    and that is installed: the emoji's training and test splits, and the clip art and stamps
    of its transfer set against their checks (those `python -m kd evaluate` scores). `limit`
    keeps the first pictures of each (tests)."""
    pairs = {"emoji": (dataset.split("train"), dataset.split("test"))}
    if distill.pictures and clipart.available():
        seen = clipart.load("transfer", progress=False, per_folder=distill.pictures_per_folder)
        pairs["clip art"] = (_unlabelled(seen, dataset.classes, "openclipart"), clipart.check_dataset(dataset.classes, progress=False))
    if distill.pictures and distill.stamps and stamps.available():
        pairs["stamps"] = (_unlabelled(stamps.load("transfer", progress=False), dataset.classes, "tuxpaint"),
                           stamps.check_dataset(dataset.classes, progress=False))
    if limit is None:
        return pairs
    return {name: tuple(d.subset(range(min(limit, len(d)))) for d in pair) for name, pair in pairs.items()}


def gap_rows(student: MultimodalClassifier, teacher: MultimodalClassifier, dataset: MultimodalDataset, distill: DistillConfig,
             limit: int | None = None) -> list[dict]:
    """One row per source: its name, how many pictures were seen and unseen, the student's
    agreement with the teacher on each (`follows`), on the unseen ones by how sure the teacher
    is (`by_conviction`), and the teacher's picture-only agreement with itself when its own
    network reads the unseen pictures at the student's side (`picture_logits_at`)."""
    sides = {"student_side": student.config.image_size, "teacher_side": teacher.config.image_size}
    rows = []
    for name, (seen, unseen) in sources(dataset, distill, limit).items():
        split = by_conviction(student, teacher, unseen)  # its "all" is `follows`, without running both models again
        at_student_side = agreement(picture_logits_at(teacher, unseen.images, sides["student_side"]),
                                    dataset_logits(teacher, unseen, VIEWS["picture"]))
        rows.append({"source": name, "seen_examples": len(seen), "unseen_examples": len(unseen), "seen": follows(student, teacher, seen),
                     "unseen": {view: c["all"] for view, c in split.items()}, "unseen_by_conviction": split,
                     **sides, "teacher_at_student_side": at_student_side})
    return rows


def gap_lines(rows: list[dict]) -> list[str]:
    """The rows as the command prints them: seen against unseen, with the text, then from the
    picture alone; then the unseen ones where the teacher is sure and where it is not; last, from
    the picture alone, the teacher reading them at the student's side against the student."""
    lines = ["agreement with the teacher on pictures the student trained on (seen) and held-out ones (unseen)"]
    for r in rows:
        cells = [f"{view} {r['seen'][view]:.3f} seen, {r['unseen'][view]:.3f} unseen" for view in VIEWS]
        lines.append(f"{r['source']} ({r['seen_examples']} seen, {r['unseen_examples']} unseen): " + "; ".join(cells))
    lines.append(f"unseen pictures where the teacher is sure (top probability >= {SURE}) and where it is not")
    for r in rows:
        cells = [f"{view} {_figure(c['sure'])} where sure ({c['sure_share']:.0%} of them), {_figure(c['unsure'])} elsewhere"
                 for view, c in r["unseen_by_conviction"].items()]
        lines.append(f"{r['source']}: " + "; ".join(cells))
    if rows:
        lines.append(f"unseen pictures, picture only: the teacher's own network reading them at the student's {rows[0]['student_side']} px "
                     f"(not its {rows[0]['teacher_side']} px) against itself, and the student against the teacher")
    for r in rows:
        lines.append(f"{r['source']}: the teacher at {r['student_side']} px {r['teacher_at_student_side']:.3f}, "
                     f"the student {r['unseen']['picture']:.3f}")
    return lines


def _figure(value: float | None) -> str:
    """An agreement as printed; "-" where no picture fell on that side."""
    return "-" if value is None else f"{value:.3f}"
