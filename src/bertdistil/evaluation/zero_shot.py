"""Zero-shot STS-B: Spearman correlation between the cosine similarity of two sentences' mean-pooled embeddings
and the gold similarity score — no fine-tuning, no seed noise. Mean pooling over non-pad
tokens of the last hidden layer is what the embedded teacher (all-MiniLM-L6-v2, sentence-transformers) was
trained with (Reimers & Gurevych 2019), so this measures directly what a student kept of its teacher's space.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from transformers import AutoModel

from ..models.loading import load_tokenizer


@torch.inference_mode()
def embed(model_dir: str | Path, texts: list[str], batch_size: int = 128, max_len: int = 128,
          device: torch.device | str = "cpu") -> np.ndarray:
    """Mean-pooled last hidden states of ``texts``: (N, H) float32, not normalised. Texts are run sorted by
    length (little padding); the output keeps the input order."""
    tok = load_tokenizer(model_dir)
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).to(device).eval()
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = None
    for i in range(0, len(texts), batch_size):
        idx = order[i:i + batch_size]
        enc = tok([texts[j] for j in idx], padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        h = model(**enc).last_hidden_state.float()                     # (b, L, H)
        m = enc["attention_mask"].unsqueeze(-1).float()                # (b, L, 1)
        pooled = ((h * m).sum(1) / m.sum(1).clamp(min=1)).cpu().numpy()
        out = np.zeros((len(texts), pooled.shape[1]), np.float32) if out is None else out
        out[idx] = pooled
    return out


def sts_zero_shot(model_dir: str | Path, pairs: list[tuple], device: torch.device | str = "cpu") -> dict:
    """{spearman, pearson} in % of cos(embed(a), embed(b)) against the gold scores of (a, b, score) ``pairs``
    (STS-B dev: 1,500 pairs), and the number of pairs."""
    e = embed(model_dir, [p[0] for p in pairs] + [p[1] for p in pairs], device=device)
    a, b = e[:len(pairs)], e[len(pairs):]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)).clip(1e-12)
    gold = np.array([p[2] for p in pairs], dtype=np.float64)
    return {"spearman": 100 * float(spearmanr(cos, gold)[0]), "pearson": 100 * float(pearsonr(cos, gold)[0]),
            "pairs": len(pairs)}
