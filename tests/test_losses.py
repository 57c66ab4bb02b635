"""Losses against hand-computed values and their limits."""

import math

import pytest
import torch
import torch.nn.functional as F

from kd.training.losses import hinton_loss, hint_loss, kd_loss, kl_divergence, soft_targets


def test_soft_targets_flatten_as_temperature_rises():
    z = torch.tensor([[2.0, 1.0, 0.0]])
    assert torch.allclose(soft_targets(z, 1.0), F.softmax(z, -1))
    assert soft_targets(z, 10.0).max() < soft_targets(z, 1.0).max()


def test_kd_loss_hand_computed():
    # Two classes, T = 2. Teacher logits (2, 0) -> p_t = softmax(1, 0); student (0, 0) -> p_s = (0.5, 0.5).
    pt1 = math.exp(1) / (math.exp(1) + 1)
    pt = [pt1, 1 - pt1]
    kl = sum(p * math.log(p / 0.5) for p in pt)
    expected = 4 * kl  # T^2 = 4
    got = kd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]), temperature=2.0)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.4438, abs=1e-4)  # worked by hand: 4 * 0.11094


def test_kd_loss_is_batch_mean():
    s = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    t = torch.tensor([[2.0, 0.0], [0.0, 0.0]])  # second row identical: contributes 0
    one = kd_loss(s[:1], t[:1], 2.0)
    assert kd_loss(s, t, 2.0).item() == pytest.approx(one.item() / 2, rel=1e-6)


def test_identical_logits_give_zero_kd_loss():
    z = torch.randn(8, 9)
    assert kd_loss(z, z.clone(), temperature=4.0).item() == pytest.approx(0.0, abs=1e-6)


def test_alpha_zero_is_plain_cross_entropy_and_alpha_one_is_pure_kd():
    torch.manual_seed(0)
    s, t, y = torch.randn(16, 9), torch.randn(16, 9), torch.randint(0, 9, (16,))
    assert hinton_loss(s, t, y, 4.0, alpha=0.0).item() == pytest.approx(F.cross_entropy(s, y).item(), rel=1e-6)
    assert hinton_loss(s, t, y, 4.0, alpha=1.0).item() == pytest.approx(kd_loss(s, t, 4.0).item(), rel=1e-6)
    mixed = 0.3 * kd_loss(s, t, 4.0) + 0.7 * F.cross_entropy(s, y)
    assert hinton_loss(s, t, y, 4.0, alpha=0.3).item() == pytest.approx(mixed.item(), rel=1e-6)


def test_kd_gradient_scale_is_roughly_independent_of_temperature():
    # The reason for the T^2 factor: at high T the gradient ~ (z_s - z_t) / (K T^2) * T^2.
    torch.manual_seed(0)
    t = torch.randn(64, 9)
    grads = []
    for temperature in (4.0, 16.0):
        s = torch.randn(64, 9, generator=torch.Generator().manual_seed(1)).requires_grad_()
        kd_loss(s, t, temperature).backward()
        grads.append(s.grad.norm().item())
    assert 0.5 < grads[0] / grads[1] < 2.0


def test_kl_divergence_metric_per_example():
    t = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    s = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    kl = kl_divergence(t, s)
    assert kl.shape == (2,) and kl[1].item() == pytest.approx(0.0, abs=1e-7)
    p = torch.softmax(t[0], 0)
    assert kl[0].item() == pytest.approx((p * (p / 0.5).log()).sum().item(), rel=1e-6)


def test_hint_loss_ignores_scale_and_is_zero_when_aligned():
    a = torch.randn(4, 16)
    assert hint_loss(a, 3 * a).item() == pytest.approx(0.0, abs=1e-6)
    assert hint_loss(a, -a).item() == pytest.approx(4.0, rel=1e-5)  # |u - (-u)|^2 = 4 for unit u


def test_hinton_loss_at_t2_hand_computed_value_and_gradient():
    # One example, two classes, T = 2, alpha = 0.75; student (0, 0), teacher (2, 0), label 0.
    s = torch.tensor([[0.0, 0.0]], requires_grad=True)
    t, y, T, alpha = torch.tensor([[2.0, 0.0]]), torch.tensor([0]), 2.0, 0.75
    pt = math.exp(1) / (math.exp(1) + 1)  # softmax((2, 0) / 2)[0]
    kl = pt * math.log(pt / 0.5) + (1 - pt) * math.log((1 - pt) / 0.5)
    expected = alpha * T**2 * kl + (1 - alpha) * math.log(2)
    loss = hinton_loss(s, t, y, T, alpha)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # alpha * T * (p_s - p_t) / B + (1 - alpha) * (softmax(z) - onehot) / B, with B = 1.
    grad0 = alpha * T * (0.5 - pt) + (1 - alpha) * (0.5 - 1)
    assert s.grad.tolist()[0] == pytest.approx([grad0, -grad0], rel=1e-6)


def test_a_class_the_teacher_rules_out_contributes_nothing():
    s = torch.tensor([[0.5, -0.5, 1.0]], requires_grad=True)
    t = torch.tensor([[1.0, 0.0, float("-inf")]])
    loss = kd_loss(s, t, 2.0)
    assert torch.isfinite(loss)
    # The same as KL over the two classes the teacher allows, with the student's third still in its softmax.
    log_ps = F.log_softmax(s.detach() / 2, -1)[0]
    pt = F.softmax(t[0, :2] / 2, -1)
    assert loss.item() == pytest.approx(4 * (pt * (pt.log() - log_ps[:2])).sum().item(), rel=1e-6)
    loss.backward()
    assert torch.isfinite(s.grad).all()
    assert torch.isfinite(kl_divergence(t, s.detach())).all()


@pytest.mark.parametrize("temperature", [0.0, -4.0, float("nan"), float("inf")])
def test_a_temperature_that_is_not_positive_and_finite_is_refused(temperature):
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(z, z, temperature)
    with pytest.raises(ValueError, match="temperature"):
        kl_divergence(z, z, temperature)
    with pytest.raises(ValueError, match="temperature"):
        soft_targets(z, temperature)


@pytest.mark.parametrize(
    "student, teacher, name",
    [
        (torch.zeros(3), torch.zeros(3), "student_logits"),  # 1-D: batchmean would divide by K
        (torch.zeros(0, 3), torch.zeros(0, 3), "empty batch"),
        (torch.zeros(2, 3), torch.zeros(2, 4), "differ in shape"),
        (torch.zeros(2, 3), torch.zeros(3, 3), "differ in shape"),
    ],
)
def test_logits_that_are_not_matching_batches_are_refused(student, teacher, name):
    with pytest.raises(ValueError, match=name):
        kd_loss(student, teacher, 4.0)


def test_hinton_loss_refuses_bad_alpha_and_labels():
    z, y = torch.zeros(2, 3), torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="alpha"):
        hinton_loss(z, z, y, 4.0, alpha=1.5)
    with pytest.raises(ValueError, match="labels"):
        hinton_loss(z, z, torch.zeros(3, dtype=torch.long), 4.0, alpha=0.5)
