"""Loss functions, each a small pure function of tensors.

Notation: z_s, z_t are student and teacher logits (B, K); y are class indices (B,);
T is the softmax temperature; p^T = softmax(z / T).

Each refuses what it cannot honour with a `ValueError` that names the argument: a
temperature that is not a finite number > 0, logits that are not (B, K) with B >= 1 and
matching shapes, labels that are not (B,), alpha outside [0, 1]. A class the teacher rules
out (logit -inf, p_t = 0) contributes nothing to KL(p_t || p_s), as 0 * log 0 = 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def check_temperature(temperature: float) -> float:
    if isinstance(temperature, torch.Tensor):
        temperature = temperature.item()
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    """Both (B, K) with B >= 1 and the same shape, else a ValueError naming the argument."""
    for name, z in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
        if z.dim() != 2:
            raise ValueError(f"{name} must be (batch, classes), got shape {tuple(z.shape)}")
        if z.shape[0] == 0:
            raise ValueError(f"{name} is an empty batch: there is nothing to average over")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student_logits {tuple(student_logits.shape)} and teacher_logits {tuple(teacher_logits.shape)} differ in shape")


def _kl(log_p_teacher: torch.Tensor, log_p_student: torch.Tensor) -> torch.Tensor:
    """Per-row KL(p_t || p_s) from log-probabilities; rows where p_t = 0 add 0 (not NaN)."""
    p_teacher = log_p_teacher.exp()
    terms = torch.where(p_teacher > 0, p_teacher * (log_p_teacher - log_p_student), torch.zeros_like(p_teacher))
    return terms.sum(dim=-1)


def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """p^T = softmax(z / T): the distribution softened by temperature T (T = 1: the usual softmax)."""
    return F.softmax(logits / check_temperature(temperature), dim=-1)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Knowledge-distillation term: T^2 * KL(p_t^T || p_s^T), averaged over the batch.

        L_KD = T^2 * (1/B) * sum_b sum_k p_t^T[b,k] * (log p_t^T[b,k] - log p_s^T[b,k])

    The T^2 factor keeps the gradient's scale independent of T, since the soft targets'
    gradients scale as 1/T^2 (Hinton, Vinyals & Dean, 2015, "Distilling the Knowledge in
    a Neural Network", arXiv:1503.02531, section 2). Zero when the logits are equal.
    Its gradient with respect to z_s is T * (p_s^T - p_t^T) / B.
    """
    temperature = check_temperature(temperature)
    check_logits(student_logits, teacher_logits)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    return _kl(log_p_teacher, log_p_student).mean() * temperature**2


def hinton_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """Hinton et al. (2015): L = alpha * T^2 * KL(p_t^T || p_s^T) + (1 - alpha) * CE(z_s, y).

    alpha = 0 is plain cross-entropy on the labels; alpha = 1 learns from the teacher alone.
    The gradient with respect to z_s is alpha * T * (p_s^T - p_t^T) / B + (1 - alpha) * (softmax(z_s) - onehot(y)) / B.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if labels.shape != student_logits.shape[:1]:
        raise ValueError(f"labels must be ({len(student_logits)},), one class index per example, got shape {tuple(labels.shape)}")
    return alpha * kd_loss(student_logits, teacher_logits, temperature) + (1 - alpha) * F.cross_entropy(
        student_logits, labels
    )


def kl_divergence(teacher_logits: torch.Tensor, student_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Per-example KL(p_t^T || p_s^T) in nats, without the T^2 factor: (B,). A metric, not a loss."""
    temperature = check_temperature(temperature)
    check_logits(student_logits, teacher_logits)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    return _kl(log_p_teacher, log_p_student)


def hint_loss(student_embedding: torch.Tensor, teacher_embedding: torch.Tensor) -> torch.Tensor:
    """FitNets-style hint (Romero et al., 2015, arXiv:1412.6550): mean squared error between
    the student's embedding (already projected to the teacher's width) and the teacher's,
    both L2-normalised so the term does not depend on the embeddings' scale.
    """
    return F.mse_loss(F.normalize(student_embedding, dim=-1), F.normalize(teacher_embedding, dim=-1), reduction="sum") / len(
        student_embedding
    )
