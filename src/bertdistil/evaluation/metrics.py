"""Task metrics (scikit-learn / scipy) and the official SQuAD v1.1 answer normalisation.

All scores are returned in percent (×100), as the paper's tables report them.
"""
from __future__ import annotations

import collections
import re
import string

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef


def task_metrics(names: tuple[str, ...], preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Compute the named metrics in percent. preds/labels: (N,) class ids, or float scores for
    pearson/spearman. Names: accuracy, f1 (positive class 1), mcc (Matthews), pearson, spearman."""
    out = {}
    for n in names:
        if n == "accuracy":
            out[n] = 100 * accuracy_score(labels, preds)
        elif n == "f1":
            out[n] = 100 * f1_score(labels, preds, zero_division=0)
        elif n == "mcc":
            out[n] = 100 * matthews_corrcoef(labels, preds)
        elif n == "pearson":
            out[n] = 100 * float(pearsonr(preds, labels)[0]) if np.ptp(preds) > 0 else 0.0   # constant: 0
        elif n == "spearman":
            out[n] = 100 * float(spearmanr(preds, labels)[0]) if np.ptp(preds) > 0 else 0.0
        else:
            raise ValueError(f"unknown metric {n}")
    return out


def normalize_answer(s: str) -> str:
    """SQuAD v1.1 official normalisation: lower-case, drop punctuation, articles (a, an, the), extra spaces."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_f1(prediction: str, ground_truth: str) -> float:
    """Token-overlap F1 between normalised prediction and one gold answer (fraction)."""
    p, g = normalize_answer(prediction).split(), normalize_answer(ground_truth).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_exact(prediction: str, ground_truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def squad_scores(predictions: dict[str, str], golds: dict[str, list[str]]) -> dict[str, float]:
    """EM and F1 in percent, each the max over a question's gold answers, averaged over questions."""
    em = f1 = 0.0
    for qid, answers in golds.items():
        pred = predictions.get(qid, "")
        em += max(squad_exact(pred, a) for a in answers)
        f1 += max(squad_f1(pred, a) for a in answers)
    n = max(len(golds), 1)
    return {"exact_match": 100 * em / n, "f1": 100 * f1 / n}
