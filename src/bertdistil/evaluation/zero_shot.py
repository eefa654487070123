"""Zero-shot STS-B: Spearman correlation between the cosine similarity of two sentences' embeddings and the gold
similarity score — no fine-tuning, no seed noise. The embeddings are the model's own (its sentence-transformers
pooling; mean pooling over non-pad tokens of the last layer for a folder without one, which is what the
embedded teacher all-MiniLM-L6-v2 was trained with, Reimers & Gurevych 2019), so this measures directly what a
student kept of its teacher's space. The same code scores every set of the sentence-encoder suite
(``sentence_suite``); this module is its STS-B dev part, used by the downstream protocol and ``zero-shot``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .sentence_suite import sentence_encoder, sts_score


def embed(model_dir: str | Path, texts: list[str], batch_size: int = 128,
          device: torch.device | str = "cpu") -> np.ndarray:
    """The model's sentence embeddings of ``texts``: (N, H) float32 in the input order (normalised when the
    model's sentence-transformers pipeline normalises)."""
    return sentence_encoder(model_dir, str(device))(texts, batch_size=batch_size)


def sts_zero_shot(model_dir: str | Path, pairs: list[tuple], device: torch.device | str = "cpu") -> dict:
    """{spearman, pearson} in % of cos(embed(a), embed(b)) against the gold scores of (a, b, score) ``pairs``
    (STS-B dev: 1,500 pairs), and the number of pairs."""
    return sts_score(sentence_encoder(model_dir, str(device)), pairs)
