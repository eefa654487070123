"""Paper Tables 1–2 (published rows marked "paper") and our measured rows, as markdown, from results.json."""
from __future__ import annotations

from pathlib import Path

# Sanh et al. 2019 (arXiv:1910.01108v4), Table 1: GLUE dev; Table 2: IMDb test acc., SQuAD v1.1 dev EM/F1.
PAPER_TABLE1 = {
    "ELMo (paper)": [68.7, 44.1, 68.6, 76.6, 71.1, 86.2, 53.4, 91.5, 70.4, 56.3],
    "BERT-base (paper)": [79.5, 56.3, 86.7, 88.6, 91.8, 89.6, 69.3, 92.7, 89.0, 53.5],
    "DistilBERT (paper)": [77.0, 51.3, 82.2, 87.5, 89.2, 88.5, 59.9, 91.3, 86.9, 56.3],
}
PAPER_TABLE2 = {"BERT-base (paper)": (93.46, 81.2, 88.5), "DistilBERT (paper)": (92.82, 77.7, 85.8),
                "DistilBERT (D) (paper)": (None, 79.1, 86.9)}
TABLE1_TASKS = ["CoLA", "MNLI", "MRPC", "QNLI", "QQP", "RTE", "SST-2", "STS-B", "WNLI"]
ROWS = {"teacher": "teacher", "truncated": "truncated teacher (control)", "mlm_only": "MLM-only student (control)",
        "student": "student (distilled)", "student_d": "student (D) (task distillation)"}
METRIC = {"CoLA": "mcc", "MRPC": "f1", "STS-B": "pearson"}


def _f(x) -> str:
    return "–" if x is None else f"{x:.1f}"


def table1(ds: dict) -> list[str]:
    """Markdown lines of Table 1 (GLUE) with the retention column."""
    glue, macro, ret = ds["glue"], ds["glue_macro"], ds.get("retention", {})
    lines = ["| model | Score | " + " | ".join(TABLE1_TASKS) + " | retention |",
             "|---|" + "---:|" * (len(TABLE1_TASKS) + 2)]
    for name, row in PAPER_TABLE1.items():
        ret_paper = f"{100 * row[0] / PAPER_TABLE1['BERT-base (paper)'][0]:.1f}%" if "Distil" in name else ""
        lines.append(f"| {name} | " + " | ".join(_f(v) for v in row) + f" | {ret_paper} |")
    for key, label in ROWS.items():
        if key not in macro and not any(key in r for r in glue.values() if isinstance(r, dict)):
            continue
        cells = []
        for t in TABLE1_TASKS:
            r = glue.get(t, {})
            if not r.get("available", True):
                cells.append("n/a" if r.get("reason") == "data not available here" else "–")
            else:
                cells.append(_f(r.get(key, {}).get(METRIC.get(t, "accuracy"))))
        rt = f"{ret[key]:.1f}%" if key in ret else ("100%" if key == "teacher" and macro else "")
        lines.append(f"| {label} | {_f(macro.get(key))} | " + " | ".join(cells) + f" | {rt} |")
    return lines


def table2(ds: dict, squad: dict | None) -> list[str]:
    lines = ["| model | IMDb acc. | SQuAD EM | SQuAD F1 |", "|---|---:|---:|---:|"]
    for name, (imdb, em, f1) in PAPER_TABLE2.items():
        lines.append(f"| {name} | {_f(imdb)} | {_f(em)} | {_f(f1)} |")
    imdb = ds.get("extra", {}).get("IMDb", {})
    sq = (squad or {}).get("results", {})
    for key, label in ROWS.items():
        if key in imdb or key in sq:
            lines.append(f"| {label} | {_f(imdb.get(key, {}).get('accuracy'))} | "
                         f"{_f(sq.get(key, {}).get('exact_match'))} | {_f(sq.get(key, {}).get('f1'))} |")
    return lines


def plot_retention(ds: dict, path: Path) -> bool:
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
        ax.bar([j + i * width for j in range(len(tasks))], [per[m].get(t, 0) for t in tasks], width, label=ROWS[m])
    ax.axhline(100, color="k", lw=0.8)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(tasks))], tasks)
    ax.set_ylabel("retention (% of teacher score)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def downstream_section(results: dict, out: Path) -> list[str]:
    """The report's downstream section (empty if results has no downstream evaluation)."""
    ds = results.get("downstream")
    if not ds:
        return []
    p = ds["protocol"]
    lines = ["## Downstream: GLUE dev (paper Table 1)", "",
             f"Median over seeds {p['seeds']}; fine-tuning lr {p['lr']}, {p['epochs']} epochs, "
             f"batch {p['batch_size']}, max_seq_len {p['max_seq_len']}, train sets capped at "
             f"{p['max_train_examples'] or 'all'} examples, dev at {p['max_eval_examples'] or 'all'}. "
             f"Score = macro average over the tasks measured here ({p['macro_metric']}); "
             "\"n/a\" = data not available here (MNLI and QQP are absent, QNLI has no train split), \"–\" = not run in "
             "this preset; our Score therefore averages fewer tasks than the paper's. Retention = model Score / "
             "teacher Score.", ""]
    lines += table1(ds) + [""]
    if plot_retention(ds, out / "retention.png"):
        lines += ["![per-task retention](retention.png)", ""]
    lines += ["## Downstream: IMDb and SQuAD (paper Table 2)", ""]
    sq = results.get("squad")
    if sq:
        lines += [f"SQuAD: {sq['protocol']['split']}.", ""]
    lines += table2(ds, sq) + [""]
    return lines
