"""One forward pass of the distillation objective: which rows go through which loss.

Positions used (``sel``):
  * soft targets (alpha_ce > 0): every non-pad token, or only the MLM targets if restrict_ce_to_mask;
  * MLM: the targets drawn by the Masker;
  * cosine / MSE: every non-pad token of the last hidden layer.
The vocabulary projection is computed only on ``sel`` rows, for student and teacher alike, and both
vocabulary terms come from one pass over those logits (``losses.vocab_losses``).
"""
from __future__ import annotations

import torch

from . import losses
from .config import LossConfig
from .models import encode, head_logits


class StudentForward(torch.nn.Module):
    """The student's part of the objective as one module, so DistributedDataParallel can wrap it (DDP
    only synchronises gradients of modules whose ``forward`` it ran). forward(input_ids (B, L),
    attention_mask (B, L), sel (B, L) bool or None) → (hidden (B, L, H), logits (N, V) of sel rows or None)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, sel=None):
        h = encode(self.model, input_ids, attention_mask)
        return h, (head_logits(self.model, h[sel]) if sel is not None else None)


def weights_of(cfg: LossConfig) -> dict[str, float]:
    """The non-zero loss weights, keyed by term name (ce, mlm, cos, mse = logits, hidden_mse)."""
    w = {"ce": cfg.alpha_ce, "mlm": cfg.alpha_mlm, "cos": cfg.alpha_cos, "mse": cfg.alpha_mse,
         "hidden_mse": cfg.alpha_hidden_mse}
    return {k: v for k, v in w.items() if v}


TEACHER_TERMS = {"ce", "cos", "mse", "hidden_mse"}


def compute_losses(student, teacher, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   labels: torch.Tensor, cfg: LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward student (and teacher if a teacher term is on) on a masked batch.

    ``student``: a *ForMaskedLM model, or a StudentForward (wrapped in DDP when distributed).
    Args: input_ids (B, L) int64 after masking; attention_mask (B, L); labels (B, L) int64, -100 off-target.
    Returns (weighted loss, scalar, with grad; {term: float value}). The teacher runs under
    ``torch.no_grad`` and must be in eval mode. Raises ValueError when a teacher term is on without a teacher.
    """
    w = weights_of(cfg)
    if TEACHER_TERMS & w.keys() and teacher is None:
        raise ValueError("alpha_ce/alpha_cos/alpha_mse/alpha_hidden_mse > 0 need a teacher")
    nonpad = attention_mask.bool()                                   # (B, L)
    targets = labels != -100                                         # (B, L)
    soft = "ce" in w or "mse" in w                                   # terms on the teacher's logits
    sel = nonpad if (soft and not cfg.restrict_ce_to_mask) else targets
    need_logits = soft or "mlm" in w
    wrapped = isinstance(student, (StudentForward, torch.nn.parallel.DistributedDataParallel))
    fwd = student if wrapped else StudentForward(student)
    h_s, s_logits = fwd(input_ids, attention_mask, sel if need_logits else None)  # (B, L, H), (N, V)
    t_logits = None
    if TEACHER_TERMS & w.keys():
        with torch.no_grad():    # not inference_mode: its tensors could not enter the losses without a copy
            h_t = encode(teacher, input_ids, attention_mask)         # (B, L, H)
            t_logits = head_logits(teacher, h_t[sel]) if soft else None  # (N, V)
            h_t_rows = h_t[nonpad]                                    # (M, H)
    parts, terms = [], {}
    if "ce" in w or "mlm" in w:      # both vocabulary terms in one chunked pass over the (N, V) logits
        vocab, ce, mlm = losses.vocab_losses(s_logits, t_logits if "ce" in w else None, labels[sel],
                                             cfg.temperature, w.get("ce", 0.0), w.get("mlm", 0.0))
        parts.append(vocab)
        terms |= {k: v for k, v in (("ce", ce), ("mlm", mlm)) if k in w}
    other = {}
    if "mse" in w:
        other["mse"] = losses.logit_mse_loss(s_logits, t_logits)
    if "cos" in w or "hidden_mse" in w:
        h_s_rows = h_s[nonpad]                                        # (M, H)
        if "cos" in w:
            other["cos"] = losses.cosine_loss(h_s_rows, h_t_rows)
        if "hidden_mse" in w:
            other["hidden_mse"] = losses.hidden_mse_loss(h_s_rows, h_t_rows)
    if other:
        parts.append(losses.combine(other, w))
        terms |= other
    return sum(parts), {k: float(v.detach()) for k, v in terms.items()}
