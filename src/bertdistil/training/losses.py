"""The distillation losses as pure functions of tensors (Sanh et al. 2019, §3; Hinton et al. 2015).

L = alpha_ce · L_ce + alpha_mlm · L_mlm + alpha_cos · L_cos (+ alpha_mse · L_mse on logits, as the original code,
+ alpha_hidden_mse · L_hidden_mse on last hidden states)
All functions compute in float32 whatever the input dtype (bf16 autocast outputs are upcast).
``soft_target_loss`` and ``mlm_loss`` define the two vocabulary terms; ``vocab_losses`` computes both
(value and gradient) in one pass over row chunks, which is what pre-training uses.
Task distillation ("DistilBERT (D)", fine-tuning with a teacher fine-tuned on the task) mixes the task loss
with the teacher's outputs: ``task_classification_loss``, ``task_regression_loss``, ``span_loss``.

Beyond the paper, losses on the teacher's inner states

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


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """L_ce = T² · KL(softmax(z_t/T) ‖ softmax(z_s/T)), averaged over rows.

    Args: student_logits, teacher_logits (N, V) — one row per example or token position; the teacher's are
    constants (no gradient flows to them). Returns a scalar float32. The T² factor keeps gradient magnitudes
    comparable across T (Hinton 2015); the gradient w.r.t. z_s is T·(p_s − p_t)/N. Used as written for
    task distillation's small logits; pre-training's (N, 30,522) rows go through ``vocab_losses``.
    """
    t = temperature
    log_p_s = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.detach().float() / t, dim=-1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * (t * t)


def mlm_loss(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_mlm = mean cross-entropy over targets. student_logits (N, V); labels (N,) int64, -100 = ignore."""
    if not bool((labels != -100).any()):
        return student_logits.float().sum() * 0.0
    return F.cross_entropy(student_logits.float(), labels, ignore_index=-100)


CHUNK_ELEMENTS = 1 << 19     # rows per chunk × vocabulary: 2 MB float32 per temporary, cache-resident


class _VocabLosses(torch.autograd.Function):
    """Forward computes both terms and d(total)/d(student logits) chunk by chunk; backward scales it."""

    @staticmethod
    def forward(ctx, s_logits, t_logits, labels, temperature, alpha_ce, alpha_mlm):
        n, v = s_logits.shape
        t = float(temperature)
        targets = labels != -100
        n_targets = int(targets.sum()) if alpha_mlm else 0
        all_targets = n_targets == n
        grad = torch.empty_like(s_logits)                          # (N, V), the logits' dtype
        ce = torch.zeros((), dtype=torch.float64, device=s_logits.device)
        mlm = torch.zeros((), dtype=torch.float64, device=s_logits.device)
        rows = max(1, CHUNK_ELEMENTS // v)
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            s = s_logits[r0:r1].to(torch.float32, copy=True)        # (r, V) float32
            g = None                                                 # d(total)/d s for these rows
            if alpha_ce:
                z_s = s * (1.0 / t)
                z_t = t_logits[r0:r1].to(torch.float32, copy=True).mul_(1.0 / t)
                p_s, p_t = torch.softmax(z_s, -1), torch.softmax(z_t, -1)
                # log p = z − lse with lse = max z − log max p (max p ≥ 1/V: no underflow in its log), so
                # KL = Σ p_t·(z_t − z_s) − lse_t + lse_s per row
                lse_s = z_s.amax(-1) - p_s.amax(-1).log()
                lse_t = z_t.amax(-1) - p_t.amax(-1).log()
                kl_rows = torch.linalg.vecdot(p_t, z_t.sub_(z_s)) - lse_t + lse_s     # (r,); per row, not one
                ce += kl_rows.sum(dtype=torch.float64)                 # long dot: its two sums cancel
                g = p_s.sub_(p_t).mul_(alpha_ce * t / n)              # T²/N · (p_s − p_t)/T
            if n_targets:
                idx = None if all_targets else targets[r0:r1].nonzero().squeeze(1)
                if idx is None or len(idx):
                    s1, y = (s, labels[r0:r1]) if idx is None else (s[idx], labels[r0:r1][idx])
                    p1 = torch.softmax(s1, -1)                       # (k, V), temperature 1
                    rows_k = torch.arange(len(y), device=s.device)
                    mlm += (s1.amax(-1) - p1.amax(-1).log() - s1[rows_k, y]).sum(dtype=torch.float64)
                    p1[rows_k, y] -= 1.0                             # softmax − one-hot
                    g = torch.zeros_like(s) if g is None else g
                    if idx is None:
                        g.add_(p1, alpha=alpha_mlm / n_targets)
                    else:
                        g.index_add_(0, idx, p1, alpha=alpha_mlm / n_targets)
            grad[r0:r1] = 0.0 if g is None else g
        ctx.save_for_backward(grad)
        ce = (ce * (t * t / max(n, 1))).float()
        mlm = (mlm / max(n_targets, 1)).float()
        ctx.mark_non_differentiable(ce, mlm)
        return alpha_ce * ce + alpha_mlm * mlm, ce, mlm

    @staticmethod
    def backward(ctx, g_total, g_ce, g_mlm):
        (grad,) = ctx.saved_tensors
        return grad * g_total.to(grad.dtype), None, None, None, None, None


def vocab_losses(student_logits: torch.Tensor, teacher_logits: torch.Tensor | None, labels: torch.Tensor,
                 temperature: float, alpha_ce: float,
                 alpha_mlm: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """alpha_ce · L_ce + alpha_mlm · L_mlm over the same rows, with L_ce = ``soft_target_loss`` and
    L_mlm = ``mlm_loss`` (same values and gradient, tested against both definitions in float64), computed
    chunk by chunk.

    Args: student_logits (N, V) float32 or bf16, with grad; teacher_logits (N, V) any float dtype (None
    when alpha_ce = 0); labels (N,) int64, -100 = not an MLM target. Returns (weighted sum: scalar float32
    with grad; L_ce and L_mlm: scalar float32, no grad; 0 when their alpha is 0 or there is no target).

    Why: written as separate functions over the whole (N, V) matrix, the two terms take about a dozen
    passes over it in float32 (casts, divisions, log-softmaxes, exps and their backward) — 18M elements at
    128 tokens × 32 sequences with MLM targets only, 125M on all tokens. Here each chunk of ~17 rows stays
    in cache, the student's softmax at T and at 1 and the teacher's at T are the only transcendental
    passes (PyTorch's softmax kernel, ~2× faster per element than ``exp``), and the gradient
    (alpha_ce·T·(p_s − p_t)/N + alpha_mlm·(softmax(z_s) − onehot)/N_targets) is written once, in the
    logits' dtype. log-sum-exp comes from the row maxima, so no ``log`` over the matrix either.
    Timed inside training steps at 128 tokens (603 rows) during development: 36 ms against 80–110 ms for
    the separate functions; ``bench-train`` shows the step-level effect. The (N, V) gradient is held from
    forward to backward, in place of the float32 copies autograd would otherwise keep.
    Raises ValueError when alpha_ce > 0 without teacher logits, or their shape differs from the student's.
    Sources: Hinton et al. 2015 (T²-scaled KL), Sanh et al. 2019 §3 (triple loss).
    """
    if alpha_ce and teacher_logits is None:
        raise ValueError("alpha_ce > 0 needs teacher logits")
    if teacher_logits is not None and teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher logits {tuple(teacher_logits.shape)} vs student {tuple(student_logits.shape)}")
    return _VocabLosses.apply(student_logits, teacher_logits, labels, temperature, float(alpha_ce), float(alpha_mlm))


def cosine_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
    """L_cos = mean over rows of 1 − cos(h_s, h_t). Inputs (N, H) hidden states of non-pad tokens."""
    return (1.0 - F.cosine_similarity(student_hidden.float(), teacher_hidden.float(), dim=-1)).mean()


def hidden_mse_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
    """L_hidden_mse = mean squared error between hidden states (N, H), averaged over all elements (ours)."""
    return F.mse_loss(student_hidden.float(), teacher_hidden.float())


POOLINGS = ("mean", "cls", "max")


def sentence_embedding(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "mean") -> torch.Tensor:
    """Pooled sentence embeddings (B, H) float32 of last hidden states ``hidden`` (B, L, H) over the non-pad
    tokens of ``attention_mask`` (B, L), as sentence-transformers' ``Pooling`` computes them: ``mean``, ``cls``
    (the first token) or ``max``; a ``+normalize`` suffix L2-normalises them (its ``Normalize`` module).
    ValueError for another pooling."""
    mode, _, norm = pooling.partition("+")
    if mode not in POOLINGS or norm not in ("", "normalize"):
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, optionally +normalize; got {pooling!r}")
    h, m = hidden.float(), attention_mask.unsqueeze(-1).to(torch.float32)        # (B, L, H), (B, L, 1)
    if mode == "mean":
        emb = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    elif mode == "cls":
        emb = h[:, 0]
    else:
        emb = h.masked_fill(m == 0, float("-inf")).amax(1)
    return F.normalize(emb, dim=-1) if norm else emb


def embedding_mse_loss(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """L_emb_mse = mean squared error between sentence embeddings (B, H), averaged over all elements:
    sentence-transformers' ``MSELoss`` to the teacher's embeddings (Reimers & Gurevych 2020, their layer-reduction
    distillation). On L2-normalised embeddings it equals (2 / H)·(1 − cos), so its weight is on another scale
    than ``alpha_emb_cos``."""
    return F.mse_loss(student_emb, teacher_emb.detach())


def embedding_cosine_loss(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """L_emb_cos = mean over sentences of 1 − cos(e_s, e_t); inputs (B, H) sentence embeddings."""
    return (1.0 - F.cosine_similarity(student_emb, teacher_emb.detach(), dim=-1)).mean()


def logit_mse_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """L_mse = Σ (z_s − z_t)² / N over the (N, V) logits of the soft-target rows: ``alpha_mse`` of the original
    distiller.py (``MSELoss(reduction="sum")(s_logits_slct, t_logits_slct) / s_logits_slct.size(0)``)."""
    return F.mse_loss(student_logits.float(), teacher_logits.detach().float(), reduction="sum") / max(
        1, student_logits.shape[0])


def combine(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """Weighted sum Σ weights[k] · terms[k] over the terms present (scalar)."""
    return sum(weights[k] * v for k, v in terms.items())


def _mix(task: torch.Tensor, distill: torch.Tensor | None, alpha: float) -> torch.Tensor:
    return task if distill is None else (1 - alpha) * task + alpha * distill


def task_classification_loss(student_logits: torch.Tensor, labels: torch.Tensor,
                             teacher_logits: torch.Tensor | None = None, alpha: float = 0.5,
                             temperature: float = 2.0) -> torch.Tensor:
    """CE(z_s, y), or with a teacher (1 − α)·CE(z_s, y) + α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)).

    student_logits, teacher_logits (B, C); labels (B,) int64 class indices. Returns a scalar float32."""
    z = student_logits.float()
    kd = soft_target_loss(z, teacher_logits, temperature) if teacher_logits is not None else None
    return _mix(F.cross_entropy(z, labels), kd, alpha)


def task_regression_loss(student_scores: torch.Tensor, targets: torch.Tensor,
                         teacher_scores: torch.Tensor | None = None, alpha: float = 0.5) -> torch.Tensor:
    """MSE(s, y), or with a teacher (1 − α)·MSE(s, y) + α·MSE(s, t). All (B,) float; returns a scalar float32."""
    s = student_scores.float()
    kd = F.mse_loss(s, teacher_scores.float()) if teacher_scores is not None else None
    return _mix(F.mse_loss(s, targets.float()), kd, alpha)


def span_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start_positions: torch.Tensor,
              end_positions: torch.Tensor, teacher_start: torch.Tensor | None = None,
              teacher_end: torch.Tensor | None = None, alpha: float = 0.5, temperature: float = 2.0) -> torch.Tensor:
    """Span extraction (SQuAD): the mean of start and end CE, or with a teacher (1 − α)·that + α·the mean of the
    start and end soft-target losses. Logits (B, L) over token positions; positions (B,) int64."""
    s, e = start_logits.float(), end_logits.float()
    task = (F.cross_entropy(s, start_positions) + F.cross_entropy(e, end_positions)) / 2
    kd = None
    if teacher_start is not None:
        kd = (soft_target_loss(s, teacher_start, temperature) + soft_target_loss(e, teacher_end, temperature)) / 2
    return _mix(task, kd, alpha)


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
