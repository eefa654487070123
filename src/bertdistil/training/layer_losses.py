"""Distillation losses on the teacher's inner states, beyond the paper's triple loss, as pure functions.

For a teacher whose strength is its hidden states (sentence-embedding encoders), the student can also be
asked to reproduce the teacher's intermediate layers or its last layer's self-attention:
  * ``layers_mse_loss``: TinyBERT's hidden-state loss (Jiao et al. 2019, arXiv:1909.10351, eq. 8, with the
    embedding-layer term of eq. 10): MSE between student layer m and teacher layer g(m) along a uniform map;
    student and teacher have the same width here, so TinyBERT's projection W_h is the identity.
  * ``pkd_loss``: Patient KD (Sun et al. 2019, arXiv:1908.09355, eq. 4): squared distance between the
    L2-normalised [CLS] states of the student's intermediate layers and their teacher layers (PKD-Skip map).
  * ``relation_kl_loss``: MiniLM's deep self-attention distillation (Wang et al. 2020, arXiv:2002.10957,
    eqs. 5–8): KL between the teacher's and the student's last-layer attention distributions
    softmax(Q·Kᵀ/√d) and value relations softmax(V·Vᵀ/√d), per head and query position.
``uniform_layer_map`` gives g. All functions compute in float32 and return scalars with the student's grad.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def uniform_layer_map(n_student: int, n_teacher: int) -> list[int]:
    """g(m) = m·N/M for m = 0..M (TinyBERT's uniform strategy): index m of the student's hidden states
    (0 = embeddings, M = last layer) matches index g(m) of the teacher's. Raises ValueError unless the
    teacher's layer count is a multiple of the student's."""
    if n_student <= 0 or n_teacher % n_student:
        raise ValueError(f"uniform layer map needs teacher layers ({n_teacher}) to be a multiple of student "
                         f"layers ({n_student})")
    k = n_teacher // n_student
    return [m * k for m in range(n_student + 1)]


def layers_mse_loss(student_layers: list[torch.Tensor], teacher_layers: list[torch.Tensor]) -> torch.Tensor:
    """L_hidn = Σ_m MSE(h_s^m, h_t^g(m)) over matched layers (TinyBERT eqs. 8 and 10).

    Args: two equal-length lists of (N, H) hidden states of the same N non-pad tokens, student's first
    (with grad), teacher's matched to them (constants). Returns a scalar float32: the sum over layers of
    the mean squared error over all N·H elements. Raises ValueError when the lists differ in length."""
    if len(student_layers) != len(teacher_layers):
        raise ValueError(f"{len(student_layers)} student layers vs {len(teacher_layers)} teacher layers")
    return sum(F.mse_loss(s.float(), t.detach().float()) for s, t in zip(student_layers, teacher_layers))


def pkd_loss(student_cls: list[torch.Tensor], teacher_cls: list[torch.Tensor]) -> torch.Tensor:
    """L_PT = Σ_j mean_i ‖h_s^{i,j}/‖h_s^{i,j}‖₂ − h_t^{i,I(j)}/‖h_t^{i,I(j)}‖₂‖₂² (PKD eq. 4).

    Args: two equal-length lists, one entry per intermediate student layer j, of (B, H) [CLS] hidden states
    (student with grad; teacher constants, layer I(j)). Returns a scalar float32: summed over layers,
    averaged over the B sequences. Raises ValueError when the lists differ in length."""
    if len(student_cls) != len(teacher_cls):
        raise ValueError(f"{len(student_cls)} student layers vs {len(teacher_cls)} teacher layers")
    total = torch.zeros((), dtype=torch.float32, device=student_cls[0].device if student_cls else "cpu")
    for s, t in zip(student_cls, teacher_cls):
        d = F.normalize(s.float(), dim=-1) - F.normalize(t.detach().float(), dim=-1)
        total = total + d.pow(2).sum(-1).mean()
    return total


def relation_kl_loss(student_scores: torch.Tensor, teacher_scores: torch.Tensor,
                     attention_mask: torch.Tensor) -> torch.Tensor:
    """MiniLM's L_AT / L_VR: mean over heads and non-pad query positions of KL(softmax(t) ‖ softmax(s)).

    Args: student_scores, teacher_scores (B, A, L, L) pre-softmax relation scores (Q·Kᵀ/√d for attention,
    V·Vᵀ/√d for value relation; same head count A); attention_mask (B, L), 1 = token, 0 = pad. Pad keys get
    probability 0 in both distributions, pad query rows are left out of the mean. Returns a scalar float32.
    Raises ValueError when the two shapes differ (a student with another head count needs MiniLM-v2's
    relation heads, not implemented)."""
    if student_scores.shape != teacher_scores.shape:
        raise ValueError(f"relation scores {tuple(student_scores.shape)} vs teacher "
                         f"{tuple(teacher_scores.shape)}: same head count and length needed")
    keys = attention_mask.bool()[:, None, None, :]                       # (B, 1, 1, L)
    neg = torch.finfo(torch.float32).min
    log_s = F.log_softmax(student_scores.float().masked_fill(~keys, neg), dim=-1)
    log_t = F.log_softmax(teacher_scores.detach().float().masked_fill(~keys, neg), dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).masked_fill(~keys, 0.0).sum(-1)   # (B, A, L)
    rows = attention_mask.bool()[:, None, :].expand_as(kl)                  # query positions that are tokens
    return kl[rows].mean()
