"""Is a picture like those the models learnt from? A measured answer, for the demo's warning.

The teacher's image backbone turns every picture into a 1280-d feature. Pictures the models
learnt from (training emoji in three art styles) sit in one region of that space; a
photograph of a cat sits far from all of them. The score of a picture is its cosine
similarity to the nearest of a fixed sample of training pictures; below a threshold the
picture is "unfamiliar", and the demo says so: the student was taught to follow the teacher
on emoji and clip art, and on such a picture both may answer with confidence and be wrong.

The threshold is measured, not chosen: it is the similarity below which only
`EMOJI_FLAGGED` of the held-out (validation) emoji fall, so a visitor's emoji is rarely
warned about. `python -m kd reproduce` writes the sample and the threshold beside the
checkpoints, with the share of clip art (never trained on) that falls below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from kd import cache
from kd.data.dataset import MultimodalDataset
from kd.training.features import teacher_features

FORMAT = "kd-familiar-pictures"
# Training pictures kept as the reference (their features, in float16: ~2.6 MB).
REFERENCE_SIZE = 1000
# Share of held-out emoji allowed below the threshold.
EMOJI_FLAGGED = 0.02


@dataclass
class Familiarity:
    reference: torch.Tensor  # (R, D) unit-length teacher image features of training pictures
    threshold: float  # cosine similarity below which a picture is unfamiliar
    measured: dict  # shares flagged on held-out emoji and clip art, when it was fitted

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """(B, D) teacher image features -> (B,) cosine similarity to the nearest reference picture."""
        return (F.normalize(features.float(), dim=-1) @ self.reference.float().T).max(dim=1).values

    def unfamiliar(self, features: torch.Tensor) -> torch.Tensor:
        return self.score(features) < self.threshold

    def save(self, path: str | Path) -> None:
        cache.save_tensors(Path(path), {"reference": self.reference.half()},
                           {"format": FORMAT, "threshold": self.threshold, "measured": self.measured})

    @classmethod
    def load(cls, path: str | Path) -> Familiarity | None:
        """The saved reference, or None when there is none (the demo then gives no warning)."""
        loaded = cache.load_tensors(Path(path))
        if loaded is None or loaded[1].get("format") != FORMAT:
            return None
        tensors, meta = loaded
        return cls(tensors["reference"].float(), float(meta["threshold"]), meta.get("measured", {}))


@torch.no_grad()
def fit(teacher, dataset: MultimodalDataset, check: MultimodalDataset | None = None, seed: int = 0) -> Familiarity:
    """The reference sample (training pictures) and the threshold (held-out emoji), and the
    shares of held-out emoji and of `check` (clip art) that fall below it."""
    features = F.normalize(teacher_features(teacher, dataset, progress=False).image, dim=-1)  # cached for the whole set
    train, val = dataset.split_indices("train"), dataset.split_indices("val")
    g = torch.Generator().manual_seed(seed)
    partial = Familiarity(features[train[torch.randperm(len(train), generator=g)[:REFERENCE_SIZE]]], 0.0, {})
    val_scores = partial.score(features[val])
    threshold = torch.quantile(val_scores, EMOJI_FLAGGED).item()
    measured = {"emoji_val_flagged": float((val_scores < threshold).float().mean())}
    if check is not None:
        measured["clipart_flagged"] = float((partial.score(teacher_features(teacher, check, progress=False).image) < threshold).float().mean())
    return Familiarity(partial.reference, threshold, measured)
