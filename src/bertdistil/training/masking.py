"""Dynamic masking, re-drawn for every batch (BERT §3.1; DistilBERT train.py / distiller.py).

A fraction ``mlm_mask_prop`` of the maskable tokens (not special, not padding) become
prediction targets. Targets are drawn without replacement with probability
∝ count(token)^-mlm_smoothing (XLM-style smoothing: rare words are masked more often; 0 = uniform).
Each target is replaced by [MASK] with probability word_mask, kept with word_keep, or replaced
by a random non-special token with word_rand.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..config import MaskingConfig


def token_probabilities(counts: np.ndarray, special_ids: list[int], smoothing: float) -> torch.Tensor:
    """Per-token target weight, float32 (vocab_size,): max(count, 1)^-smoothing, 0 for special tokens."""
    probs = np.maximum(counts.astype(np.float64), 1.0) ** -smoothing
    probs[list(special_ids)] = 0.0
    return torch.from_numpy(probs.astype(np.float32))


class Masker:
    """Draws masks for batches of token ids; holds the weights and the random-token pool."""

    def __init__(self, cfg: MaskingConfig, counts: np.ndarray, special_ids: list[int], mask_id: int):
        self.cfg = cfg
        self.mask_id = mask_id
        self.weights = token_probabilities(counts, special_ids, cfg.mlm_smoothing)
        is_special = torch.zeros(len(counts), dtype=torch.bool)
        is_special[list(special_ids)] = True
        self.random_pool = torch.nonzero(~is_special).squeeze(1)         # ids a word_rand may become
        self.action_probs = torch.tensor([cfg.word_mask, cfg.word_keep, cfg.word_rand])

    @classmethod
    def for_corpus(cls, cfg: MaskingConfig, tokenizer, counts: np.ndarray) -> Masker:
        """The masker of a prepared corpus: ``counts`` int64 (vocab_size,) its token counts (TokenDataset.counts),
        the tokenizer's special tokens never targets, its mask token the ``word_mask`` replacement."""
        return cls(cfg, counts, sorted(set(tokenizer.all_special_ids)), tokenizer.mask_token_id)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask a batch.

        Args: input_ids (B, L) int64; attention_mask (B, L) {0, 1}; generator for reproducibility.
        Returns: (masked_ids (B, L) int64, labels (B, L) int64 with the original id at targets and
        -100 elsewhere). The number of targets is ceil(mlm_mask_prop · non-pad tokens), [CLS]/[SEP] counted as
        in the original ``distiller.py`` (``math.ceil(mlm_mask_prop * lengths.sum())``), at least 1 and at most
        the number of maskable tokens; targets are drawn among maskable tokens only.
        """
        w = self.weights[input_ids] * attention_mask.to(torch.float32)   # (B, L)
        flat = w.flatten()
        n_maskable = int((flat > 0).sum())
        labels = torch.full_like(input_ids, -100)
        if n_maskable == 0:
            return input_ids.clone(), labels
        n_nonpad = int(attention_mask.sum())
        n_tgt = min(n_maskable, max(1, math.ceil(self.cfg.mlm_mask_prop * n_nonpad)))
        targets = torch.multinomial(flat, n_tgt, replacement=False, generator=generator)  # (n_tgt,)
        pred_mask = torch.zeros(flat.shape, dtype=torch.bool)
        pred_mask[targets] = True
        pred_mask = pred_mask.view_as(input_ids)
        labels[pred_mask] = input_ids[pred_mask]
        real = input_ids[pred_mask]                                      # (n_tgt,)
        action = torch.multinomial(self.action_probs, n_tgt, replacement=True, generator=generator)
        rand = self.random_pool[torch.randint(len(self.random_pool), (n_tgt,), generator=generator)]
        new = torch.where(action == 0, torch.full_like(real, self.mask_id), torch.where(action == 1, real, rand))
        masked = input_ids.clone()
        masked[pred_mask] = new
        return masked, labels


