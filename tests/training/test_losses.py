"""Each loss against a value computed by hand."""
import math

import pytest
import torch

from bertdistil.training import losses


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
    assert losses.hidden_mse_loss(hs, ht).item() == pytest.approx((1 + 1 + 1 + 1) / 4)


def test_logit_mse_is_the_original_sum_over_rows():
    """alpha_mse of distiller.py: MSELoss(reduction="sum") / number of rows, on logits."""
    zs = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    zt = torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    assert losses.logit_mse_loss(zs, zt).item() == pytest.approx((1 + 4 + 9) / 2)


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


def _reference(zs, zt, labels, T, a_ce, a_mlm):
    """The two terms by their definitions (torch's kl_div and cross_entropy) in float64."""
    zs, zt = zs.double(), zt.double()
    ce = (torch.nn.functional.kl_div(torch.log_softmax(zs / T, -1), torch.log_softmax(zt / T, -1),
                                     reduction="batchmean", log_target=True) * T * T) if a_ce else zs.sum() * 0
    mlm = torch.nn.functional.cross_entropy(zs, labels) if a_mlm and (labels != -100).any() else zs.sum() * 0
    return a_ce * ce + a_mlm * mlm, ce, mlm


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("T,a_ce,a_mlm,target_share", [
    (2.0, 5.0, 2.0, 1.0), (2.0, 5.0, 2.0, 0.3), (1.0, 1.0, 1.0, 0.5),
    (3.0, 0.5, 0.0, 0.5), (2.0, 0.0, 2.0, 0.4), (2.0, 5.0, 2.0, 0.0)])
def test_vocab_losses_equal_the_separate_terms(dtype, T, a_ce, a_mlm, target_share):
    """Values and gradient of the chunked pass = alpha_ce·T²·KL + alpha_mlm·CE by their definitions in float64,
    over more rows than one chunk (so chunk edges, rows without a target and the no-target case are crossed)."""
    torch.manual_seed(0)
    n, v = 3 * (losses.CHUNK_ELEMENTS // 1000) + 5, 1000
    zs = (4 * torch.randn(n, v)).to(dtype).requires_grad_()
    zt = (4 * torch.randn(n, v)).to(dtype)
    labels = torch.randint(0, v, (n,))
    labels[torch.rand(n) >= target_share] = -100
    total, ce, mlm = losses.vocab_losses(zs, zt if a_ce else None, labels, T, a_ce, a_mlm)
    (g,) = torch.autograd.grad(total * 0.5, zs)                    # an upstream gradient ≠ 1 (accumulation)
    ref_total, ref_ce, ref_mlm = _reference(zs.detach().float(), zt.float(), labels, T, a_ce, a_mlm)
    zs64 = zs.detach().double().requires_grad_()
    (g_ref,) = torch.autograd.grad(_reference(zs64, zt.double(), labels, T, a_ce, a_mlm)[0] * 0.5, zs64)
    assert g.dtype == dtype and total.dtype == ce.dtype == mlm.dtype == torch.float32
    assert total.item() == pytest.approx(ref_total.item(), rel=1e-5, abs=1e-6)
    assert ce.item() == pytest.approx(ref_ce.item(), rel=1e-5, abs=1e-6)
    assert mlm.item() == pytest.approx(ref_mlm.item(), rel=1e-5, abs=1e-6)
    # float32: ~1e-6 relative (softmax); bf16: the gradient rounded once, ≤ 2⁻⁸ relative
    torch.testing.assert_close(g.double(), g_ref, rtol=1e-5 if dtype == torch.float32 else 2 ** -8 + 1e-5, atol=1e-10)


def test_vocab_losses_value_matches_hand_computation_and_checks_inputs():
    s = torch.tensor([[1.0, 0.0, 3.0], [0.0, 2.0, 0.0]])
    t = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    labels = torch.tensor([2, -100])
    T = 2.0
    kl = sum(sum(p * math.log(p / q) for p, q in zip(torch.softmax(tr / T, -1).tolist(),
                                                     torch.softmax(sr / T, -1).tolist()))
             for sr, tr in zip(s, t)) / 2 * T * T
    mlm = -math.log(math.exp(3) / (math.exp(1) + 1 + math.exp(3)))
    total, ce, m = losses.vocab_losses(s, t, labels, T, 5.0, 2.0)
    assert ce.item() == pytest.approx(kl, rel=1e-6) and m.item() == pytest.approx(mlm, rel=1e-6)
    assert total.item() == pytest.approx(5 * kl + 2 * mlm, rel=1e-6)
    with pytest.raises(ValueError, match="teacher logits"):
        losses.vocab_losses(s, None, labels, T, 5.0, 2.0)
    with pytest.raises(ValueError, match="teacher logits"):
        losses.vocab_losses(s, t[:, :2], labels, T, 5.0, 2.0)


def test_task_distillation_losses_against_hand_computed_values():
    """Classification, regression and span losses of task distillation, with and without a teacher."""
    import math

    from bertdistil.training.losses import span_loss, task_classification_loss, task_regression_loss
    zs, zt, y = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]]), torch.tensor([0])
    ce = math.log(1 + math.exp(-2.0))                               # −log softmax(2, 0)[0]
    ps = [1 / (1 + math.exp(-1.0)), 1 / (1 + math.exp(1.0))]        # softmax(z_s / 2)
    pt = ps[::-1]                                                   # softmax(z_t / 2)
    kl = 4 * sum(t * math.log(t / s) for t, s in zip(pt, ps))       # T² · KL(p_t ‖ p_s), T = 2
    assert task_classification_loss(zs, y).item() == pytest.approx(ce, rel=1e-6)
    assert task_classification_loss(zs, y, zt, alpha=0.25, temperature=2.0).item() == \
        pytest.approx(0.75 * ce + 0.25 * kl, rel=1e-6)
    s, target, t = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0]), torch.tensor([1.0, 1.0])
    assert task_regression_loss(s, target).item() == pytest.approx(1.0)          # ((−1)² + 1²) / 2
    assert task_regression_loss(s, target, t, alpha=0.5).item() == pytest.approx(0.5 * 1.0 + 0.5 * 2.0)  # (0 + 4) / 2
    start, end = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    assert span_loss(start, end, torch.tensor([0]), torch.tensor([1])).item() == pytest.approx(ce, rel=1e-6)
    mixed = span_loss(start, end, torch.tensor([0]), torch.tensor([1]), end, start, alpha=0.5, temperature=2.0)
    assert mixed.item() == pytest.approx(0.5 * ce + 0.5 * kl, rel=1e-6)
