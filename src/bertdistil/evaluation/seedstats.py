"""Statistics over fine-tuning seeds: medians with their min–max spread, GLUE macro-scores per seed, retention,
and comparisons that say whether a difference exceeds seed noise (a model beats another when the difference of
their medians exceeds the larger of their two min–max spreads, and each has at least MIN_SEEDS seeds: a spread
over one or two seeds says nothing about seed noise, so such a comparison is "not measurable").

Pure functions of lists of floats (scores in %); the paper reports the median of 5 seeds (Sanh et al. 2019, §4).
"""
from __future__ import annotations

import statistics


def summary(values: list[float]) -> dict:
    """{median, min, max, spread = max − min, n} of per-seed scores. ValueError on an empty list."""
    if not values:
        raise ValueError("no per-seed values to summarise")
    return {"median": float(statistics.median(values)), "min": float(min(values)), "max": float(max(values)),
            "spread": float(max(values) - min(values)), "n": len(values)}


def macro_per_seed(per_task: dict[str, list[float]]) -> list[float]:
    """Macro-score per seed: the mean over tasks of seed k's score. ``per_task`` = {task: [score per seed]};
    every task needs the same seeds (one value is broadcast: a seed-free row such as the majority baseline).
    ValueError when the seed counts differ."""
    n = max(len(v) for v in per_task.values())
    if any(len(v) not in (1, n) for v in per_task.values()):
        raise ValueError(f"tasks have different numbers of seeds: { {t: len(v) for t, v in per_task.items()} }")
    return [sum(v[k] if len(v) > 1 else v[0] for v in per_task.values()) / len(per_task) for k in range(n)]


MIN_SEEDS = 3


def compare(a: list[float], b: list[float], min_seeds: int = MIN_SEEDS) -> dict:
    """Is model a better than model b beyond seed noise? {difference = median(a) − median(b), spread = the
    larger min–max spread of the two, n = the smaller seed count, exceeds = difference > spread — or None
    (not measurable) when either model has fewer than ``min_seeds`` seeds}. ValueError on an empty list."""
    sa, sb = summary(a), summary(b)
    diff, spread = sa["median"] - sb["median"], max(sa["spread"], sb["spread"])
    n = min(sa["n"], sb["n"])
    return {"difference": diff, "spread": spread, "n": n, "exceeds": diff > spread if n >= min_seeds else None}


def verdict(c: dict) -> str:
    """``compare``'s answer in words: "yes", "no", or "not measurable (n seeds)". A comparison recorded
    before seed counts were kept (no ``n``) is read with its spread: 0 means one seed."""
    n = c.get("n", 1 if not c["spread"] else MIN_SEEDS)
    if c["exceeds"] is None or n < MIN_SEEDS:
        return f"not measurable ({n} seed{'s' if n != 1 else ''})"
    return "yes" if c["exceeds"] else "no"


def retention(model: list[float], reference: list[float]) -> dict:
    """Retention in % of ``reference`` (the teacher): {median = 100·median(model)/median(reference), and the
    widest range the seeds allow, min = 100·min(model)/max(reference), max = 100·max(model)/min(reference)}."""
    m, r = summary(model), summary(reference)
    return {"median": 100 * m["median"] / r["median"], "min": 100 * m["min"] / r["max"],
            "max": 100 * m["max"] / r["min"] if r["min"] else float("inf")}
