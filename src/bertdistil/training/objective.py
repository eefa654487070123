"""One forward pass of the distillation objective: which rows go through which loss.

Positions used (``sel``):
  * soft targets (alpha_ce > 0): every non-pad token, or only the MLM targets if restrict_ce_to_mask;
  * MLM: the targets drawn by the Masker;
  * cosine / hidden MSE: every non-pad token of the last hidden layer;
  * layer terms (``losses``): every layer's non-pad tokens (TinyBERT), the [CLS] state of the
    intermediate layers (PKD), the last layer's relations over non-pad tokens (MiniLM);
  * embedding terms: one pooled sentence embedding per sequence (``LossConfig.pooling``), MSE and cosine.
The vocabulary projection is computed only on ``sel`` rows, for student and teacher alike, and both
vocabulary terms come from one pass over those logits (``losses.vocab_losses``). The hidden-state terms
may take their targets from another teacher than the soft targets (``hidden_teacher``: the original
encoder when the soft-target teacher was MLM-adapted).
"""
from __future__ import annotations

import torch

from ..config import LossConfig
from ..models.loading import encode, encode_all, head_logits, relation_scores
from . import losses

LAYER_TERMS = {"layers_mse", "pkd", "attn", "value_rel"}       # need every layer's hidden states
EMBEDDING_TERMS = {"emb_mse", "emb_cos"}                         # pooled sentence embeddings
HIDDEN_TERMS = {"cos", "hidden_mse"} | LAYER_TERMS | EMBEDDING_TERMS   # targets from the hidden-state teacher
TEACHER_TERMS = {"ce", "mse"} | HIDDEN_TERMS


class StudentForward(torch.nn.Module):
    """The student's part of the objective as one module, so DistributedDataParallel can wrap it (DDP
    only synchronises gradients of modules whose ``forward`` it ran). forward(input_ids (B, L),
    attention_mask (B, L), sel (B, L) bool or None, all_layers, relations) → (hidden states: a tuple of
    (B, L, H), every layer's when ``all_layers`` else the last one's; logits (N, V) of sel rows or None;
    (attention, value-relation) scores (B, A, L, L) of the last layer when ``relations`` else None)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, sel=None, all_layers=False, relations=False):
        return _states(self.model, input_ids, attention_mask, sel, all_layers, relations)


def _states(model, input_ids, attention_mask, sel, all_layers: bool, relations: bool) -> tuple:
    deep = all_layers or relations
    hs = encode_all(model, input_ids, attention_mask) if deep else (encode(model, input_ids, attention_mask),)
    logits = head_logits(model, hs[-1][sel]) if sel is not None else None
    return hs, logits, (relation_scores(model, hs[-2]) if relations else None)


def weights_of(cfg: LossConfig) -> dict[str, float]:
    """The non-zero loss weights, keyed by term name (ce, mlm, cos, mse = logits, hidden_mse, layers_mse,
    pkd, attn, value_rel, emb_mse, emb_cos)."""
    w = {"ce": cfg.alpha_ce, "mlm": cfg.alpha_mlm, "cos": cfg.alpha_cos, "mse": cfg.alpha_mse,
         "hidden_mse": cfg.alpha_hidden_mse, "layers_mse": cfg.alpha_layers_mse, "pkd": cfg.alpha_pkd,
         "attn": cfg.alpha_attn, "value_rel": cfg.alpha_value_rel, "emb_mse": cfg.alpha_emb_mse,
         "emb_cos": cfg.alpha_emb_cos}
    return {k: v for k, v in w.items() if v}


def hidden_terms(w: dict, s_hs: tuple, t_hs: tuple, s_rel, t_rel, attention_mask: torch.Tensor,
                 pooling: str = "mean") -> dict:
    """{term: scalar} of the hidden-state terms in ``w``: student and teacher hidden states (tuples of
    (B, L, H); every layer's when a layer term is on, else the last one's), relation scores or None;
    ``pooling`` of the embedding terms (``losses.sentence_embedding``; the pipeline resolves "auto" to the
    teacher's own pooling before training, here it means mean pooling)."""
    nonpad = attention_mask.bool()
    out = {}
    if "cos" in w or "hidden_mse" in w:
        s_rows, t_rows = s_hs[-1][nonpad], t_hs[-1][nonpad]              # (M, H)
        if "cos" in w:
            out["cos"] = losses.cosine_loss(s_rows, t_rows)
        if "hidden_mse" in w:
            out["hidden_mse"] = losses.hidden_mse_loss(s_rows, t_rows)
    if "layers_mse" in w or "pkd" in w:
        g = losses.uniform_layer_map(len(s_hs) - 1, len(t_hs) - 1)
        if "layers_mse" in w:
            out["layers_mse"] = losses.layers_mse_loss([s_hs[m][nonpad] for m in range(len(g))],
                                                             [t_hs[g[m]][nonpad] for m in range(len(g))])
        if "pkd" in w:                                                    # intermediate layers, [CLS]
            inner = range(1, len(g) - 1)
            out["pkd"] = losses.pkd_loss([s_hs[m][:, 0] for m in inner], [t_hs[g[m]][:, 0] for m in inner])
    for i, k in enumerate(("attn", "value_rel")):
        if k in w:
            out[k] = losses.relation_kl_loss(s_rel[i], t_rel[i], attention_mask)
    if EMBEDDING_TERMS & w.keys():
        mode = "mean" if pooling == "auto" else pooling
        s_emb = losses.sentence_embedding(s_hs[-1], attention_mask, mode)                # (B, H)
        t_emb = losses.sentence_embedding(t_hs[-1], attention_mask, mode)
        if "emb_mse" in w:
            out["emb_mse"] = losses.embedding_mse_loss(s_emb, t_emb)
        if "emb_cos" in w:
            out["emb_cos"] = losses.embedding_cosine_loss(s_emb, t_emb)
    return out


def compute_losses(student, teacher, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   labels: torch.Tensor, cfg: LossConfig, hidden_teacher=None) -> tuple[torch.Tensor, dict[str, float]]:
    """Forward student (and teacher if a teacher term is on) on a masked batch.

    ``student``: a *ForMaskedLM model, or a StudentForward (wrapped in DDP when distributed).
    ``hidden_teacher``: the model whose hidden states are the targets of HIDDEN_TERMS (None = ``teacher``).
    Args: input_ids (B, L) int64 after masking; attention_mask (B, L); labels (B, L) int64, -100 off-target.
    Returns (weighted loss, scalar, with grad; {term: float value}). Teachers run under ``torch.no_grad``
    and must be in eval mode. Raises ValueError when a teacher term is on without a teacher.
    """
    w = weights_of(cfg)
    if TEACHER_TERMS & w.keys() and teacher is None:
        raise ValueError("alpha_ce/alpha_cos/alpha_mse and the hidden-state alphas > 0 need a teacher")
    nonpad = attention_mask.bool()                                   # (B, L)
    targets = labels != -100                                         # (B, L)
    soft = "ce" in w or "mse" in w                                   # terms on the teacher's logits
    sel = nonpad if (soft and not cfg.restrict_ce_to_mask) else targets
    deep, rel = bool(LAYER_TERMS & w.keys()), bool({"attn", "value_rel"} & w.keys())
    wrapped = isinstance(student, (StudentForward, torch.nn.parallel.DistributedDataParallel))
    fwd = student if wrapped else StudentForward(student)
    s_hs, s_logits, s_rel = fwd(input_ids, attention_mask, sel if soft or "mlm" in w else None, deep, rel)
    t_logits, t_hs, t_rel = None, None, None
    with torch.no_grad():    # not inference_mode: its tensors could not enter the losses without a copy
        if soft:
            t_hs, t_logits, t_rel = _states(teacher, input_ids, attention_mask, sel, deep, rel)
        if HIDDEN_TERMS & w.keys() and (t_hs is None or hidden_teacher is not None):
            t_hs, _, t_rel = _states(hidden_teacher or teacher, input_ids, attention_mask, None, deep, rel)
    parts, terms = [], {}
    if "ce" in w or "mlm" in w:      # both vocabulary terms in one chunked pass over the (N, V) logits
        vocab, ce, mlm = losses.vocab_losses(s_logits, t_logits if "ce" in w else None, labels[sel],
                                             cfg.temperature, w.get("ce", 0.0), w.get("mlm", 0.0))
        parts.append(vocab)
        terms |= {k: v for k, v in (("ce", ce), ("mlm", mlm)) if k in w}
    other = {"mse": losses.logit_mse_loss(s_logits, t_logits)} if "mse" in w else {}
    other |= hidden_terms(w, s_hs, t_hs, s_rel, t_rel, attention_mask, cfg.pooling)
    if other:
        parts.append(losses.combine(other, w))
        terms |= other
    return sum(parts), {k: float(v.detach()) for k, v in terms.items()}
