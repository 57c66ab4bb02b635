"""The Distiller: a frozen teacher teaching a student, one batch at a time.

It owns both models. The teacher stays in eval mode with gradients off; only the
student's parameters (and the hint projection, if any) are given to the optimizer.
The teacher's backbone features are computed once and cached (`kd.training.features`), so each
step runs only the teacher's small fusion head on them, never its backbones.

A step returns the student's logits and its named, already weighted losses:
- `loss_kd`   = alpha * T^2 * KL(p_teacher^T || p_student^T)   (`kd.training.losses.kd_loss`)
- `loss_ce`   = (1 - alpha) * CE(student, labels), over the examples whose labels may be used
- `loss_hint` = hint_weight * hint loss on the fused embeddings  (only if hint_weight > 0)
- `loss_picture_hint` = picture_hint * hint loss between the student's picture features,
  projected, and the teacher's image-backbone features, on every example showing a picture
  (training and transfer; only if picture_hint > 0): 1,280 numbers per picture to match
  instead of 9 probabilities
- `loss_kd_transfer` = alpha * T^2 * KL on a batch of unlabelled transfer examples
  (`kd.training.transfer`; only if a transfer set is given)
With alpha = 0 the teacher is never consulted: the student learns from labels alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kd.config import DistillConfig
from kd.models.classifiers import Features, MultimodalClassifier
from kd.training.losses import hint_loss, kd_loss
from kd.training.train import Batch, drop_modalities, features_from_batch
from kd.training.transfer import TransferSet

# Batch keys the student reads; the teacher's cached features sit under "teacher_*".
STUDENT_INPUTS = ("pixels", "trunk_maps", "token_ids", "has_text", "has_image")


class Distiller(nn.Module):
    def __init__(
        self,
        teacher: MultimodalClassifier,
        student: MultimodalClassifier,
        config: DistillConfig,
        modality_dropout: float = 0.0,
        seed: int = 0,
        transfer: TransferSet | None = None,
    ):
        super().__init__()
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.student = student
        self.config = config
        # Dropping a modality only makes sense for a student that has both.
        self.modality_dropout = modality_dropout if len(student.modalities) == 2 else 0.0
        self.generator = torch.Generator().manual_seed(seed + 1)
        if transfer is not None and config.alpha == 0:
            raise ValueError("a transfer set has no labels: it needs alpha > 0")
        self.transfer = transfer
        self.hint_proj = self.picture_proj = None
        if config.hint_weight > 0:
            # Projects the student's fused embedding to the teacher's width (FitNets' regressor).
            self.hint_proj = nn.Linear(student.fused_dim, teacher.fused_dim)
        if config.picture_hint > 0:
            if "image" not in student.modalities or not teacher.is_teacher:
                raise ValueError("picture_hint needs a student that sees pictures and a teacher with an image backbone")
            self.picture_proj = nn.Linear(student.image_dim, teacher.image_backbone.out_dim)

    @property
    def generators(self) -> list[torch.Generator]:
        """Every random generator a step draws from (saved and restored to resume training)."""
        return [self.generator] + ([self.transfer.generator] if self.transfer is not None else [])

    def train(self, mode: bool = True) -> Distiller:
        super().train(mode)
        self.teacher.eval()  # the teacher's dropout stays off: it gives one answer per input
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        params = [p for p in self.student.parameters() if p.requires_grad]  # not a frozen trunk
        for proj in (self.hint_proj, self.picture_proj):
            params += list(proj.parameters()) if proj is not None else []
        return params

    def _picture_hint(self, features: Features, teacher_image: torch.Tensor) -> torch.Tensor:
        """The hint on the picture branch, over the examples that show a picture."""
        shown = features.has_image
        if not shown.any():
            return teacher_image.sum() * 0
        return self.config.picture_hint * hint_loss(self.picture_proj(features.image[shown]), teacher_image[shown])

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """`forward_train`: through `nn.Module.__call__`, so DDP can wrap the Distiller."""
        return self.forward_train(batch)

    def forward_train(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        labels = batch["labels"]
        labelled = batch.get("labelled", torch.ones_like(labels, dtype=torch.bool))
        keep_image, keep_text = drop_modalities(len(labels), self.modality_dropout, self.generator)

        inputs = {k: batch[k] for k in STUDENT_INPUTS if k in batch}
        features = self.student.forward_features(inputs).masked(keep_image, keep_text)
        student_logits, student_fused = self.student.forward_head(features)
        losses = {}
        if self.picture_proj is not None:
            losses["loss_picture_hint"] = self._picture_hint(features, batch["teacher_image"])
        alpha, temperature = self.config.alpha, self.config.temperature
        if alpha < 1:
            ce = F.cross_entropy(student_logits[labelled], labels[labelled]) if labelled.any() else student_logits.sum() * 0
            losses["loss_ce"] = (1 - alpha) * ce
        if self.config.uses_teacher:
            with torch.no_grad():
                # The teacher sees the same view as the student: same modalities dropped.
                teacher_features = features_from_batch(batch, "teacher_").masked(keep_image, keep_text)
                teacher_logits, teacher_fused = self.teacher.forward_head(teacher_features)
            if alpha > 0:
                losses["loss_kd"] = alpha * kd_loss(student_logits, teacher_logits, temperature)
            if self.hint_proj is not None:
                losses["loss_hint"] = self.config.hint_weight * hint_loss(self.hint_proj(student_fused), teacher_fused)
        if self.transfer is not None:
            losses.update(self._transfer_losses(self.transfer.sample(self.config.transfer_batch)))
        return student_logits, losses

    def _transfer_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """KD (and the picture hint) on unlabelled transfer examples: the student matches the
        teacher on the same inputs."""
        inputs = {k: batch[k] for k in STUDENT_INPUTS if k in batch}
        features = self.student.forward_features(inputs).masked(batch["has_image"], batch["has_text"])
        student_logits, _ = self.student.forward_head(features)
        with torch.no_grad():
            teacher_logits, _ = self.teacher.forward_head(features_from_batch(batch, "teacher_"))
        losses = {"loss_kd_transfer": self.config.alpha * kd_loss(student_logits, teacher_logits, self.config.temperature)}
        if self.picture_proj is not None:
            losses["loss_picture_hint_transfer"] = self._picture_hint(features, batch["teacher_image"])
        return losses
