"""Loss functions, each a small pure function of tensors.

Notation: z_s, z_t are student and teacher logits (B, K); y are class indices (B,);
T is the softmax temperature; p^T = softmax(z / T).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """p^T = softmax(z / T): the distribution softened by temperature T (T = 1: the usual softmax)."""
    return F.softmax(logits / temperature, dim=-1)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Knowledge-distillation term: T^2 * KL(p_t^T || p_s^T), averaged over the batch.

        L_KD = T^2 * (1/B) * sum_b sum_k p_t^T[b,k] * (log p_t^T[b,k] - log p_s^T[b,k])

    The T^2 factor keeps the gradient's scale independent of T, since the soft targets'
    gradients scale as 1/T^2 (Hinton, Vinyals & Dean, 2015, "Distilling the Knowledge in
    a Neural Network", arXiv:1503.02531, section 2). Zero when the logits are equal.
    """
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * temperature**2


def hinton_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """Hinton et al. (2015): L = alpha * T^2 * KL(p_t^T || p_s^T) + (1 - alpha) * CE(z_s, y).

    alpha = 0 is plain cross-entropy on the labels; alpha = 1 learns from the teacher alone.
    """
    return alpha * kd_loss(student_logits, teacher_logits, temperature) + (1 - alpha) * F.cross_entropy(
        student_logits, labels
    )


def kl_divergence(teacher_logits: torch.Tensor, student_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Per-example KL(p_t^T || p_s^T) in nats, without the T^2 factor: (B,). A metric, not a loss."""
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=-1)


def hint_loss(student_embedding: torch.Tensor, teacher_embedding: torch.Tensor) -> torch.Tensor:
    """FitNets-style hint (Romero et al., 2015, arXiv:1412.6550): mean squared error between
    the student's embedding (already projected to the teacher's width) and the teacher's,
    both L2-normalised so the term does not depend on the embeddings' scale.
    """
    return F.mse_loss(F.normalize(student_embedding, dim=-1), F.normalize(teacher_embedding, dim=-1), reduction="sum") / len(
        student_embedding
    )
