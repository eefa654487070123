"""Each loss against a value computed by hand."""
import math

import pytest
import torch

from bertdistil import losses


def test_soft_target_loss_matches_hand_computation():
    s = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    t = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    T = 2.0
    expected = 0.0
    for srow, trow in zip(s.tolist(), t.tolist()):
        zs = [math.exp(x / T) for x in srow]
        zt = [math.exp(x / T) for x in trow]
        ps = [z / sum(zs) for z in zs]
        pt = [z / sum(zt) for z in zt]
        expected += sum(p * math.log(p / q) for p, q in zip(pt, ps))
    expected = expected / 2 * T * T
    assert losses.soft_target_loss(s, t, T).item() == pytest.approx(expected, rel=1e-6)


def test_soft_target_loss_is_zero_for_identical_logits_and_bf16_ok():
    z = torch.randn(5, 7)
    assert losses.soft_target_loss(z, z.clone(), 2.0).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.soft_target_loss(z.bfloat16(), z.bfloat16(), 2.0).dtype == torch.float32


def test_mlm_loss_hand_value_ignores_minus_100():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
    labels = torch.tensor([0, 2, -100])
    e = math.exp(2.0)
    expected = (-math.log(e / (e + 2)) + math.log(3)) / 2
    assert losses.mlm_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)
    assert losses.mlm_loss(logits, torch.full((3,), -100)).item() == 0.0


def test_cosine_and_mse_hand_values():
    hs = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    ht = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    assert losses.cosine_loss(hs, ht).item() == pytest.approx(((1 - 0) + (1 - 1)) / 2, abs=1e-6)
    assert losses.mse_loss(hs, ht).item() == pytest.approx((1 + 1 + 1 + 1) / 4)


def test_combine_weights_terms():
    terms = {"ce": torch.tensor(1.0), "mlm": torch.tensor(2.0), "cos": torch.tensor(0.5)}
    assert losses.combine(terms, {"ce": 5.0, "mlm": 2.0, "cos": 1.0}).item() == pytest.approx(5 + 4 + 0.5)


def test_soft_target_loss_value_and_gradient_equal_torch_kl_div():
    torch.manual_seed(0)
    zs = (3 * torch.randn(6, 50)).requires_grad_()
    zt = 3 * torch.randn(6, 50)
    T = 2.0
    ref = torch.nn.functional.kl_div(torch.log_softmax(zs / T, -1), torch.log_softmax(zt / T, -1),
                                     reduction="batchmean", log_target=True) * T * T
    (g_ref,) = torch.autograd.grad(ref, zs)
    ours = losses.soft_target_loss(zs, zt, T)
    (g,) = torch.autograd.grad(ours, zs)
    torch.testing.assert_close(ours, ref.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g, g_ref, rtol=1e-5, atol=1e-7)
    # the analytic gradient of T²·KL w.r.t. z_s: T·(p_s − p_t)/N
    torch.testing.assert_close(g, T * (torch.softmax(zs / T, -1) - torch.softmax(zt / T, -1)).detach() / 6)
