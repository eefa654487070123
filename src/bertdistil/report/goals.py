"""Does distillation work on this run? The project's goals checked from a run's results.json, stated plainly.

Goals (each True, False, or None when the run lacks what it needs):
  1–2. the student's GLUE Score exceeds the truncated control's / the MLM-only control's by more than the larger
       min–max spread over fine-tuning seeds of the two models (seedstats.compare; not measurable with fewer
       than seedstats.MIN_SEEDS seeds);
  3.   retention (student Score / the better teacher's) ≥ 95% — and the same for student (D);
  4.   every task's teacher is clearly above the majority-class baseline: the better teacher's worst seed beats
       the majority score by more than that teacher's min–max spread;
  5.   masked-LM: the student's accuracy against the MLM-only control's, with its paired-bootstrap interval
       (evaluation-sampling noise over sequences; one distillation seed, so seed noise is not in it);
  6.   the run's wall-clock time within its preset's ``minutes_goal`` (when one invocation made the whole run;
       only for presets that set one: ``default``, 150 minutes).
"""
from __future__ import annotations

from ..config import load_preset
from ..errors import BertdistilError
from ..evaluation.seedstats import verdict

RETENTION_GOAL = 95.0


def _beats(ds: dict, other: str) -> dict:
    c = ds.get("comparisons", {}).get(f"student vs {other}")
    if c is None:
        return {"holds": None, "evidence": f"no student vs {other} comparison in this run"}
    said = verdict(c)
    holds = None if said.startswith("not measurable") else said == "yes"
    head = f"{said}: " if holds is None else ""
    return {"holds": holds, "evidence": f"{head}median difference {c['difference']:+.2f} points against "
                                        f"a larger seed spread of {c['spread']:.2f}"}


def _retention(ds: dict, model: str) -> dict:
    r = ds.get("retention", {})
    if model not in r:
        return {"holds": None, "evidence": f"no retention for {model} in this run"}
    rng = r.get("range", {}).get(model, {})
    span = f" (seed range {rng['min']:.1f}–{rng['max']:.1f}%)" if rng else ""
    return {"holds": r[model] >= RETENTION_GOAL,
            "evidence": f"{r[model]:.1f}% of {r.get('reference', 'the teacher')}{span}"}


def _teacher_above_majority(ds: dict, metrics: dict[str, str]) -> dict:
    ref = ds.get("retention", {}).get("reference")
    rows, ok = [], True
    for task, r in ds.get("glue", {}).items():
        if not r.get("available", True) or ref not in r or "majority" not in r:
            continue
        m = metrics.get(task) or next(iter(r[ref]["summary"]))
        s, base = r[ref]["summary"][m], r["majority"][m]
        base = 0.0 if base != base else base                     # NaN (constant prediction): no correlation
        clear = s["min"] - base > s["spread"]
        ok &= clear
        rows.append(f"{task} {s['min']:.1f} vs {base:.1f}{'' if clear else ' (not clear)'}")
    if not rows:
        return {"holds": None, "evidence": "no per-task teacher and majority rows in this run"}
    return {"holds": ok, "evidence": f"{ref}'s worst seed vs majority: " + "; ".join(rows)}


def _mlm(results: dict) -> dict:
    c = results.get("mlm_comparisons", {}).get("mlm_only")
    if c is None:
        return {"holds": None, "evidence": "no paired-bootstrap comparison with the MLM-only control in this run"}
    lo, hi = c["accuracy_interval"]
    return {"holds": bool(c["accuracy_exceeds"] and c["accuracy"] > 0),
            "evidence": f"masked-token accuracy {c['accuracy']:+.2f} points, 95% interval [{lo:+.2f}, {hi:+.2f}] "
                        "(bootstrap over evaluation sequences; one distillation seed)"}


def minutes_goal(results: dict) -> float:
    """The run's wall-clock goal in minutes (0 = none): its config's ``minutes_goal``, or for a run recorded
    before that setting existed, its preset's current one."""
    cfg = results.get("config") or {}
    if "minutes_goal" in cfg:
        return float(cfg["minutes_goal"] or 0)
    try:
        return load_preset(results.get("preset", "")).minutes_goal
    except BertdistilError:
        return 0.0


def _minutes(results: dict, goal: float) -> dict:
    wall = results.get("wall_s_this_invocation")
    if wall is None or not results.get("single_invocation", False):
        return {"holds": None, "evidence": "the run was resumed, made in parts or used a cached teacher; time "
                                           "it with `/usr/bin/time make reproduce` on a fresh clone and cache"}
    return {"holds": wall / 60 <= goal, "evidence": f"{wall / 60:.1f} min in one invocation"}


def goal_checks(results: dict, metrics: dict[str, str] | None = None) -> list[dict]:
    """[{goal, holds: True / False / None, evidence}] for the project's goals, from a results.json dict;
    ``metrics`` = {task: its first metric} (default: the first in each teacher summary)."""
    ds = results.get("downstream") or {}
    checks = [("student Score > truncated control's, beyond seed spread", _beats(ds, "truncated")),
              ("student Score > MLM-only control's, beyond seed spread", _beats(ds, "mlm_only")),
              (f"student retention ≥ {RETENTION_GOAL:g}%", _retention(ds, "student")),
              (f"student (D) retention ≥ {RETENTION_GOAL:g}%", _retention(ds, "student_d")),
              ("every task's teacher clearly above the majority class", _teacher_above_majority(ds, metrics or {})),
              ("masked-LM: student above the MLM-only control beyond its bootstrap interval (evaluation noise)",
               _mlm(results))]
    goal = minutes_goal(results)
    if goal:
        checks.append((f"whole run ≤ {goal:g} min", _minutes(results, goal)))
    return [{"goal": g, **c} for g, c in checks]


def goal_lines(results: dict) -> list[str]:
    """The report's goal table: one row per goal with yes / **no** / not measured and its evidence."""
    word = {True: "yes", False: "**no**", None: "not measured"}
    lines = ["| goal | holds | evidence |", "|---|---|---|"]
    lines += [f"| {c['goal']} | {word[c['holds']]} | {c['evidence']} |" for c in goal_checks(results)]
    return lines
