"""``bertdistil curve``: retention against distillation compute.

Reads reproduce run folders that differ only in their distillation budget (``distill.max_steps``) and gives,
per budget, the GLUE macro-score (median and min–max over fine-tuning seeds) and zero-shot STS-B Spearman of
the distilled student and of the MLM-only control trained on as many tokens, against the teacher(s) and the
truncated control (untrained, the same at every budget). Writes OUT/curve.json and OUT/curve.png.
"""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from ..config import FinetuneConfig
from ..data.tasks import builtin_tasks
from ..downstream.protocol import glue_scores, majority_baseline, task_data
from ..errors import BertdistilError
from ..runfolder.layout import RunLayout
from .names import model_colour, model_name

TRAINED = ("student", "mlm_only")
REFERENCES = ("teacher_original", "teacher", "truncated", "majority")


def _with_majority(glue: dict, tasks: dict, fc) -> dict:
    """Per-task results with the majority row recomputed from the data (files under the data root)."""
    out = {}
    for t, r in glue.items():
        spec = tasks.get(t)
        if r.get("available", True) and spec is not None and {"train", "dev"} <= set(spec.files):
            train, held, dev = task_data(spec, fc)
            base = majority_baseline(spec, train + held, dev)
            r = {**r, "majority": {**base, "seeds": {m: [v] for m, v in base.items()}}}
        out[t] = r
    return out


def run_point(run: Path, root: Path | None, exclude: tuple[str, ...] = ()) -> dict:
    """One run folder's budget and scores: {tokens: {model: tokens trained}, macro: {model: seedstats.summary},
    zero_shot: {model: Spearman}, mlm_accuracy: {model: %}, comparisons}; tasks in ``exclude`` are left out of
    the macro-score. BertdistilError without downstream."""
    layout = RunLayout(run)
    if not layout.results.is_file():
        raise BertdistilError(f"{layout.results} not found: pass folders of finished reproduce runs")
    r = json.loads(layout.results.read_text())
    if "downstream" not in r:
        raise BertdistilError(f"{layout.results} has no downstream results: run it with a data root")
    known = {f.name for f in fields(FinetuneConfig)}      # settings the run predates take their defaults
    fc = FinetuneConfig(**{k: v for k, v in r["config"]["finetune"].items() if k in known})
    tasks = builtin_tasks(root)
    glue = {t: v for t, v in r["downstream"]["glue"].items() if t not in exclude}
    glue = _with_majority(glue, tasks, fc) if root is not None else glue
    scores = glue_scores(glue, tasks)
    tokens = {"student": r["distill"]["tokens_seen"],
              **{k: v["tokens_seen"] for k, v in r.get("controls", {}).items()}}
    return {"run": run.name, "tokens": tokens, "macro": scores["macro_summary"], "comparisons": scores["comparisons"],
            "retention": {k: v for k, v in scores["retention"].items() if k != "per_task"},
            "zero_shot": {k: v["spearman"] for k, v in r["downstream"].get("zero_shot_stsb", {}).items()},
            "mlm_accuracy": {k: 100 * v["accuracy"] for k, v in r["mlm"].items()}}


def learning_curve(runs: list[Path], root: Path | None, exclude: tuple[str, ...] = ()) -> dict:
    """{points: [run_point sorted by student tokens], references: {model: macro summary and zero-shot}} —
    references (teachers, truncated, majority) from the first run that has them."""
    points = sorted((run_point(Path(r), root, exclude) for r in runs), key=lambda p: p["tokens"]["student"])
    refs = {}
    for name in REFERENCES:
        for p in points:
            if name in p["macro"]:
                refs[name] = {"macro": p["macro"][name], "zero_shot": p["zero_shot"].get(name), "run": p["run"]}
                break
    return {"points": points, "references": refs, "excluded_tasks": list(exclude)}


def token_tick(millions: float) -> str:
    """An axis label for a token count in millions, to 2 significant digits: 2.42022 → "2.4M", 25.0255 → "25M",
    0.5 → "0.5M"."""
    return f"{float(f'{millions:.2g}'):g}M"


def plot_curve(curve: dict, path: Path) -> None:
    """GLUE macro (median, min–max bars) and zero-shot STS-B against distillation tokens (log scale)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key in zip(axes, ("macro", "zero_shot")):
        for model in TRAINED:
            pts = [p for p in curve["points"] if model in p[key]]
            x = [p["tokens"][model] / 1e6 for p in pts]
            if key == "macro":
                med = [p[key][model]["median"] for p in pts]
                err = [[m - p[key][model]["min"] for m, p in zip(med, pts)],
                       [p[key][model]["max"] - m for m, p in zip(med, pts)]]
                ax.errorbar(x, med, yerr=err, marker="o", capsize=3, color=model_colour(model),
                            label=model_name(model))
            else:
                ax.plot(x, [p[key][model] for p in pts], marker="o", color=model_colour(model),
                        label=model_name(model))
        for ref_name, ref in curve["references"].items():
            y = ref["macro"]["median"] if key == "macro" else ref["zero_shot"]
            if y is not None:
                ax.axhline(y, ls="--", lw=0.9, color=model_colour(ref_name), label=model_name(ref_name))
        ax.set_xscale("log")
        ticks = sorted({p["tokens"]["student"] / 1e6 for p in curve["points"]})
        ax.set_xticks(ticks, [token_tick(t) for t in ticks])
        ax.minorticks_off()
        ax.set(xlabel="distillation tokens", ylabel="GLUE macro-score" if key == "macro" else
               "zero-shot STS-B Spearman", title="fine-tuned GLUE (median, min–max over seeds)" if key == "macro"
               else "zero-shot STS-B dev (no fine-tuning)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
