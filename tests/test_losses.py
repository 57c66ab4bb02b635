"""Losses against hand-computed values and their limits."""

import math

import pytest
import torch
import torch.nn.functional as F

from kd.losses import hinton_loss, hint_loss, kd_loss, kl_divergence, soft_targets


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
