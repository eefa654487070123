"""Paper Tables 1–2 (published rows marked "paper") and our measured rows, as markdown, from results.json."""
from __future__ import annotations

from pathlib import Path

from ..evaluation.seedstats import verdict
from .names import NAMES, model_colour, model_name

# Sanh et al. 2019 (arXiv:1910.01108v4), Table 1: GLUE dev; Table 2: IMDb test acc., SQuAD v1.1 dev EM/F1.
PAPER_TABLE1 = {
    "ELMo (paper)": [68.7, 44.1, 68.6, 76.6, 71.1, 86.2, 53.4, 91.5, 70.4, 56.3],
    "BERT-base (paper)": [79.5, 56.3, 86.7, 88.6, 91.8, 89.6, 69.3, 92.7, 89.0, 53.5],
    "DistilBERT (paper)": [77.0, 51.3, 82.2, 87.5, 89.2, 88.5, 59.9, 91.3, 86.9, 56.3],
}
PAPER_TABLE2 = {"BERT-base (paper)": (93.46, 81.2, 88.5), "DistilBERT (paper)": (92.82, 77.7, 85.8),
                "DistilBERT (D) (paper)": (None, 79.1, 86.9)}
TABLE1_TASKS = ["CoLA", "MNLI", "MRPC", "QNLI", "QQP", "RTE", "SST-2", "STS-B", "WNLI"]
ROWS = NAMES
METRIC = {"CoLA": "mcc", "MRPC": "f1", "STS-B": "pearson"}


def row_labels(results: dict) -> dict[str, str]:
    """ROWS, with the teacher row named for what was fine-tuned: with ``teacher_head_only`` the teacher's encoder
    is the original checkpoint's, so the original checkpoint is the teacher row (downstream.py)."""
    if (results.get("config") or {}).get("teacher_head_only"):
        return {**ROWS, "teacher": "teacher (original checkpoint; MLM head fitted alone)"}
    return ROWS


def _f(x) -> str:
    return "–" if x is None else f"{x:.1f}"


def _spread(s: dict | None, unit: str = "") -> str:
    """"median (min–max)" of a seedstats.summary; the median alone for one seed."""
    if not s:
        return "–"
    if s.get("n", 1) < 2 or s["min"] == s["max"]:
        return f"{s['median']:.1f}{unit}"
    return f"{s['median']:.1f}{unit} ({s['min']:.1f}–{s['max']:.1f})"


NOT_RUN = "not in this preset"      # downstream.NOT_IN_PRESET: the reason of a task left out, not missing


def _cell(r: dict, key: str, metric: str) -> str:
    if not r.get("available", True):
        return "–" if r.get("reason") == NOT_RUN else "n/a"
    m = r.get(key, {})
    return _spread(m.get("summary", {}).get(metric)) if "summary" in m else _f(m.get(metric))


def table1(ds: dict, rows: dict = ROWS) -> list[str]:
    """Markdown lines of Table 1 (GLUE): median over seeds (min–max) per task, the macro-score and retention."""
    glue, macro, ret = ds["glue"], ds["glue_macro"], ds.get("retention", {})
    msum = ds.get("glue_macro_summary", {})
    ref = ret.get("reference", "teacher")
    lines = ["| model | Score | " + " | ".join(TABLE1_TASKS) + " | retention |",
             "|---|" + "---:|" * (len(TABLE1_TASKS) + 2)]
    for name, row in PAPER_TABLE1.items():
        ret_paper = f"{100 * row[0] / PAPER_TABLE1['BERT-base (paper)'][0]:.1f}%" if "Distil" in name else ""
        lines.append(f"| {name} | " + " | ".join(_f(v) for v in row) + f" | {ret_paper} |")
    for key, label in rows.items():
        if key not in macro and not any(key in r for r in glue.values() if isinstance(r, dict)):
            continue
        cells = [_cell(glue.get(t, {}), key, METRIC.get(t, "accuracy")) for t in TABLE1_TASKS]
        rng = ret.get("range", {}).get(key)
        rt = _spread({**rng, "n": 2}, "%") if rng else (f"{ret[key]:.1f}%" if key in ret else "")
        rt = "100% (reference)" if key == ref and macro else rt
        score = _spread(msum[key]) if key in msum else _f(macro.get(key))
        lines.append(f"| {label} | {score} | " + " | ".join(cells) + f" | {rt} |")
    return lines


def verdict_lines(ds: dict, rows: dict = ROWS) -> list[str]:
    """One line per comparison (seedstats.compare): the difference of median macro-scores, the larger seed
    spread, and whether the difference exceeds it."""
    out = []
    for name, c in ds.get("comparisons", {}).items():
        a, b = name.split(" vs ")
        said = verdict(c)
        words = {"yes": "exceeds the seed spread", "no": "**within seed noise**"}.get(said, said)
        out.append(f"- {rows.get(a, a)} − {rows.get(b, b)}: {c['difference']:+.2f} points; larger min–max spread "
                   f"{c['spread']:.2f} → {words}")
    return out


def zero_shot_lines(ds: dict, rows: dict = ROWS) -> list[str]:
    """Zero-shot STS-B dev table: Spearman of the cosine of each model's own sentence embeddings (no fine-tuning,
    no seeds)."""
    zs = ds.get("zero_shot_stsb") or {}
    if not zs:
        return []
    lines = ["| model | zero-shot STS-B Spearman | Pearson |", "|---|---:|---:|"]
    for key, r in zs.items():
        lines.append(f"| {rows.get(key, key)} | {r['spearman']:.1f} | {r['pearson']:.1f} |")
    return lines


def table2(ds: dict, squad: dict | None, rows: dict = ROWS) -> list[str]:
    lines = ["| model | IMDb acc. | SQuAD EM | SQuAD F1 |", "|---|---:|---:|---:|"]
    for name, (imdb, em, f1) in PAPER_TABLE2.items():
        lines.append(f"| {name} | {_f(imdb)} | {_f(em)} | {_f(f1)} |")
    imdb = ds.get("extra", {}).get("IMDb", {})
    sq = (squad or {}).get("results", {})
    for key, label in rows.items():
        if key in imdb or key in sq:
            lines.append(f"| {label} | {_f(imdb.get(key, {}).get('accuracy'))} | "
                         f"{_f(sq.get(key, {}).get('exact_match'))} | {_f(sq.get(key, {}).get('f1'))} |")
    return lines


def plot_retention(ds: dict, path: Path, rows: dict = ROWS) -> bool:
    """Bar chart of per-task retention (% of the teacher's score) per model."""
    per = ds.get("retention", {}).get("per_task", {})
    if not per or not any(per.values()):
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tasks = sorted({t for v in per.values() for t in v})
    models = [m for m in per if per[m]]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(models)
    for i, m in enumerate(models):
        ax.bar([j + i * width for j in range(len(tasks))], [per[m].get(t, 0) for t in tasks], width,
               label=model_name(m, rows), color=model_colour(m))
    ax.axhline(100, color="k", lw=0.8)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(tasks))], tasks)
    ax.set_ylabel("retention (% of teacher score)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def missing_note(ds: dict, root: str | None = None) -> str:
    """" (MNLI: no train split under glue/MNLI …; …)": why each GLUE task marked n/a was not available, from the
    results, with paths relative to the data root ``root``."""
    reasons = []
    for t, r in ds["glue"].items():
        reason = r.get("reason", NOT_RUN)
        if r.get("available", True) or reason == NOT_RUN:
            continue
        reason = reason.split(": ", 1)[1] if reason.startswith(f"{t}: ") else reason
        reasons.append(f"{t}: {reason.replace(f'{root}/', '') if root else reason}")
    return f" ({'; '.join(reasons)})" if reasons else ""


def downstream_section(results: dict, out: Path) -> list[str]:
    """The report's downstream section (empty if results has no downstream evaluation)."""
    ds = results.get("downstream")
    if not ds:
        return []
    rows = row_labels(results)
    p = ds["protocol"]
    caps = {**({"all": p["max_train_examples"]} if p["max_train_examples"] else {}),
            **p.get("task_max_train_examples", {})}
    held = p.get("heldout_prop", 0)
    epochs = (f"up to {p['epochs']} epochs, the epoch kept chosen on {100 * held:g}% of each train split held out"
              if held else f"{p['epochs']} epochs")
    missing = missing_note(ds, (results.get("data") or {}).get("root"))
    lines = ["## Downstream: GLUE dev (paper Table 1)", "",
             f"Median over seeds {p['seeds']} (min–max in brackets); fine-tuning lr {p['lr']}, {epochs}, "
             f"batch {p['batch_size']}, max_seq_len {p['max_seq_len']}, train sets capped at "
             f"{caps or 'nothing'}, dev at {p['max_eval_examples'] or 'all'}. "
             f"Score = macro average over the tasks measured here ({p['macro_metric']}); "
             f"\"n/a\" = data not available here{missing}, \"–\" = not run in this preset; our Score therefore "
             "averages fewer tasks than the paper's. Retention = model Score / teacher Score.", ""]
    lines += table1(ds, rows) + [""]
    verdicts = verdict_lines(ds, rows)
    if verdicts:
        lines += ["Differences of median Score against the larger min–max spread over seeds of the two models:", "",
                  *verdicts, ""]
    zs = zero_shot_lines(ds, rows)
    if zs:
        lines += ["Zero-shot STS-B dev (cosine of each model's own sentence embeddings, no fine-tuning):", "", *zs, ""]
    if plot_retention(ds, out / "retention.png", rows):
        lines += ["![per-task retention](retention.png)", ""]
    lines += ["## Downstream: IMDb and SQuAD (paper Table 2)", ""]
    sq = results.get("squad")
    if sq:
        lines += [f"SQuAD: {sq['protocol']['split']}.", ""]
    lines += table2(ds, sq, rows) + [""]
    return lines
