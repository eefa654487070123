"""Bootstrap intervals for masked-LM results over held-out sequences (Efron & Tibshirani 1993), and the paired
bootstrap of a difference between two models scored on the same targets (Koehn 2004's test for MT metrics).

Every model is evaluated with one fixed mask (evaluate.py), so two models' per-sequence results are paired:
resampling the same sequence indices for both keeps what they share (which sequences are hard) out of the
interval of their difference. Inputs are ``evaluate_mlm(..., per_sequence=True)["per_sequence"]`` dicts:
{correct, nll (nats), targets}, one value per sequence. Pure numpy; deterministic for a given seed.
"""
from __future__ import annotations

import math

import numpy as np

N_BOOT = 2000


def _resample_index(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))          # (n_boot, n) sequence indices


def _arrays(per_seq: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.asarray(per_seq["correct"], np.float64), np.asarray(per_seq["nll"], np.float64),
            np.asarray(per_seq["targets"], np.float64))


def interval(per_seq: dict, level: float = 0.95, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Percentile intervals of masked-token accuracy (%) and perplexity over sequences resampled with
    replacement: {accuracy: [lo, hi], perplexity: [lo, hi], level, n_boot, sequences}. Accuracy and perplexity
    are ratios of sums over the resampled sequences (Σ correct / Σ targets, exp(Σ nll / Σ targets)), as on the
    whole set. Raises ValueError for an empty list."""
    correct, nll, targets = _arrays(per_seq)
    if not len(targets):
        raise ValueError("no sequences to resample")
    idx = _resample_index(len(targets), n_boot, seed)
    t = targets[idx].sum(1).clip(min=1)
    acc, ppl = 100 * correct[idx].sum(1) / t, np.exp(nll[idx].sum(1) / t)
    q = [50 * (1 - level), 50 * (1 + level)]
    return {"accuracy": [float(x) for x in np.percentile(acc, q)],
            "perplexity": [float(x) for x in np.percentile(ppl, q)],
            "level": level, "n_boot": n_boot, "sequences": len(targets)}


def paired_difference(a: dict, b: dict, level: float = 0.95, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Model a minus model b on the same targets: {accuracy: difference in points, accuracy_interval: [lo, hi],
    perplexity_ratio: ppl_a / ppl_b, perplexity_ratio_interval, accuracy_exceeds / perplexity_exceeds: the
    interval excludes 0 (ratio 1)}, resampling the same sequences for both. Raises ValueError when the two
    were not scored on the same targets."""
    ca, na, ta = _arrays(a)
    cb, nb, tb = _arrays(b)
    if len(ta) != len(tb) or not np.array_equal(ta, tb):
        raise ValueError("paired bootstrap needs both models scored on the same sequences and targets")
    idx = _resample_index(len(ta), n_boot, seed)
    t = ta[idx].sum(1).clip(min=1)
    d_acc = 100 * (ca[idx].sum(1) - cb[idx].sum(1)) / t
    ratio = np.exp((na[idx].sum(1) - nb[idx].sum(1)) / t)
    q = [50 * (1 - level), 50 * (1 + level)]
    acc_iv = [float(x) for x in np.percentile(d_acc, q)]
    ppl_iv = [float(x) for x in np.percentile(ratio, q)]
    total = max(ta.sum(), 1)
    return {"accuracy": float(100 * (ca.sum() - cb.sum()) / total), "accuracy_interval": acc_iv,
            "accuracy_exceeds": acc_iv[0] > 0 or acc_iv[1] < 0,
            "perplexity_ratio": math.exp((na.sum() - nb.sum()) / total), "perplexity_ratio_interval": ppl_iv,
            "perplexity_exceeds": ppl_iv[0] > 1 or ppl_iv[1] < 1, "level": level, "n_boot": n_boot}


def summarised(result: dict) -> dict:
    """An ``evaluate_mlm`` result with its per_sequence scores replaced by their ``interval`` (unchanged when it
    has none): what results.json, the report and the commands' output show."""
    if "per_sequence" not in result:
        return result
    return {k: v for k, v in result.items() if k != "per_sequence"} | {"interval": interval(result["per_sequence"])}


def mlm_uncertainty(mlm: dict, reference: str = "student") -> tuple[dict, dict]:
    """(``mlm`` with each model's per_sequence replaced by its ``interval``, {other model: paired_difference(
    reference, other)}) for the models evaluated with per-sequence results; models without them (results made
    before this was recorded) are left as they are."""
    out = {k: summarised(v) for k, v in mlm.items()}
    ref = mlm.get(reference, {}).get("per_sequence")
    diffs = {k: paired_difference(ref, v["per_sequence"]) for k, v in mlm.items()
             if ref is not None and k != reference and "per_sequence" in v}
    return out, diffs
