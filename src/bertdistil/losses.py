"""The distillation losses as pure functions of tensors (Sanh et al. 2019, §3; Hinton et al. 2015).

L = alpha_ce · L_ce + alpha_mlm · L_mlm + alpha_cos · L_cos (+ alpha_mse · L_mse)
All functions compute in float32 whatever the input dtype (bf16 autocast outputs are upcast).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """L_ce = T² · KL(softmax(z_t/T) ‖ softmax(z_s/T)), averaged over rows.

    Args: student_logits, teacher_logits (N, V) — one row per selected token position; the teacher's are
    constants (no gradient flows to them). Returns a scalar float32. The T² factor keeps gradient magnitudes
    comparable across T (Hinton 2015). Computed as T²/N · (Σ p_t·log p_t − Σ p_t·log p_s) with the teacher's
    side outside autograd: the value and gradient (T·(p_s − p_t)/N w.r.t. z_s) of
    ``F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) · T²`` in fewer passes over the
    (N, V) tensors (two dot products; the backward is one product instead of exp, multiply and negate).
    """
    t = temperature
    log_p_s = F.log_softmax(student_logits.float() / t, dim=-1)
    with torch.no_grad():
        log_p_t = F.log_softmax(teacher_logits.float() / t, dim=-1)
        p_t = log_p_t.exp()
        neg_entropy = torch.dot(p_t.flatten(), log_p_t.flatten())
    return (neg_entropy - torch.dot(p_t.flatten(), log_p_s.flatten())) * (t * t / max(student_logits.shape[0], 1))


def mlm_loss(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_mlm = mean cross-entropy over targets. student_logits (N, V); labels (N,) int64, -100 = ignore."""
    if not bool((labels != -100).any()):
        return student_logits.float().sum() * 0.0
    return F.cross_entropy(student_logits.float(), labels, ignore_index=-100)


def cosine_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
    """L_cos = mean over rows of 1 − cos(h_s, h_t). Inputs (N, H) hidden states of non-pad tokens."""
    return (1.0 - F.cosine_similarity(student_hidden.float(), teacher_hidden.float(), dim=-1)).mean()


def mse_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
    """L_mse = mean squared error between hidden states (N, H), averaged over all elements."""
    return F.mse_loss(student_hidden.float(), teacher_hidden.float())


def combine(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """Weighted sum Σ weights[k] · terms[k] over the terms present (scalar)."""
    return sum(weights[k] * v for k, v in terms.items())
