"""``OUT/report.md`` and ``OUT/loss_curves.png``, generated from ``results.json`` (never typed by hand)."""
from __future__ import annotations

import json
from pathlib import Path

from ..data.shipped import cache_dir
from ..errors import BertdistilError
from ..runfolder.layout import RunLayout
from ..runfolder.provenance import shown
from .downstream_tables import downstream_section
from .efficiency_tables import efficiency_section
from .goals import goal_lines
from .names import NAMES, model_colour, model_name
from .sentence_tables import sentence_eval_section

ROW_NAMES = NAMES


def mlm_verdicts(mlm: dict, comparisons: dict) -> list[str]:
    """One phrase per model the student is compared with: the accuracy difference and, when per-sequence
    results were recorded, its paired-bootstrap interval and whether it excludes zero (else: no interval)."""
    out = []
    for other in ("teacher", "truncated", "mlm_only", "hidden_only", "triple"):
        if other not in mlm or "student" not in mlm:
            continue
        c = comparisons.get(other)
        if c is None:
            diff = 100 * (mlm["student"]["accuracy"] - mlm[other]["accuracy"])
            out.append(f"student − {other}: {diff:+.2f} points (one run, no interval)")
            continue
        lo, hi = c["accuracy_interval"]
        word = "beyond sampling noise" if c["accuracy_exceeds"] else "within sampling noise"
        plo, phi = c["perplexity_ratio_interval"]
        pword = "beyond sampling noise" if c["perplexity_exceeds"] else "within sampling noise"
        out.append(f"student − {other}: accuracy {c['accuracy']:+.2f} points [{lo:+.2f}, {hi:+.2f}], {word}; "
                   f"perplexity × {c['perplexity_ratio']:.3f} [{plo:.3f}, {phi:.3f}], {pword}")
    return out


def baseline_lines(r: dict) -> list[str]:
    """The masked-LM table's baseline row: always the training corpus's most frequent token, no model
    (evaluate.unigram_baseline); a line saying how to compute it for a run recorded without it."""
    b = r.get("mlm_baseline")
    if b is None:
        return ["", f"(Most-frequent-token baseline not recorded in this run: `bertdistil evaluate-mlm --baseline "
                    f"--preset {r['preset']}` computes it.)"]
    return [f"| baseline: always `{b['token']}`, the training corpus's most frequent token (no model; perplexity of "
            f"its unigram frequencies) | {_fmt(100 * b['accuracy'])} | {_fmt(b['perplexity'])} | |"]


def _fmt(x, nd=2):
    return "n/a" if x is None else f"{x:,.{nd}f}"


def plot_losses(logs: dict[str, list[dict]], path: Path) -> bool:
    """Three panels against tokens seen, one line per training run: the masked-LM cross-entropy term L_mlm
    (nats per target; the one term every run shares, so the only comparable loss), the student's distillation
    terms (e.g. L_ce = T²·KL to the teacher's soft targets, L_cos = 1 − cos of hidden states), and the periodic
    held-out masked-token accuracy. Returns False (and writes nothing) without matplotlib or log rows."""
    logs = {k: v for k, v in logs.items() if v}
    if not logs:
        return False
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for model, log in logs.items():
        x = [r["tokens_seen"] / 1e6 for r in log]
        if all("mlm" in r.get("terms", {}) for r in log):
            axes[0].plot(x, [r["terms"]["mlm"] for r in log], color=model_colour(model),
                         label=model_name(model))
        distil_terms = sorted(set(log[0].get("terms", {})) - {"mlm"})
        for term, style in zip(distil_terms, ("-", "--", ":", "-.")):
            if all(term in r.get("terms", {}) for r in log):
                axes[1].plot(x, [r["terms"][term] for r in log], style, color=model_colour(model),
                             label=f"{model_name(model)}: L_{term}")
        ev = [r for r in log if "eval" in r]
        if ev:
            axes[2].plot([r["tokens_seen"] / 1e6 for r in ev], [100 * r["eval"]["accuracy"] for r in ev],
                         marker="o", color=model_colour(model), label=model_name(model))
    axes[0].set(xlabel="tokens seen (M)", ylabel="L_mlm (nats per masked target)", title="masked-LM loss")
    axes[1].set(xlabel="tokens seen (M)", ylabel="term value (unweighted)", title="distillation terms")
    axes[2].set(xlabel="tokens seen (M)", ylabel="masked-token accuracy (%)", title="periodic held-out eval (subset)")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def data_lines(data: dict | None, out: Path) -> list[str]:
    """Where the benchmark data came from (root, number of files; sha256s in results.json) or what was skipped."""
    if not data:
        return []
    if data["root"] is None:
        return ["Benchmark data: none (no --data-dir / $BERTDISTIL_DATA); skipped: "
                f"{', '.join(data['skipped']) or 'nothing'}.", ""]
    return [f"Benchmark data: {len(data['files'])} files under the data root `{shown(data['root'], out)}` (sha256 "
            "of each in `results.json`, key `data`).", ""]


def provenance_lines(r: dict) -> list[str]:
    """Which code, libraries and machine made the run (results.json "provenance" and "machine")."""
    p, m = r.get("provenance"), r.get("machine", {})
    if not p:
        return []
    git = p["git"]
    code = f"commit `{git['commit'][:12]}`{' with uncommitted changes' if git['dirty'] else ''}" if git else \
        "an installed package (no git checkout)"
    libs = ", ".join(f"{k} {v}" for k, v in p["versions"].items() if v)
    weights = "; ".join(f"{role} `{sha[:12]}…`" for role, files in p["teacher_weights"].items()
                        for sha in files.values())
    return ["## Provenance", "", f"- code: {code}", f"- versions: {libs}",
            f"- machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('threads')} torch threads"
            + (f", GPU {m['gpu']}" if m.get("gpu") else ""),
            f"- teacher weights (sha256): {weights}; corpus files and benchmark files: sha256 of each in "
            "`results.json` (keys `provenance`, `data`)", ""]


def write_report(out: Path, results: dict, logs: dict[str, list[dict]]) -> Path:
    """Write OUT/report.md (and loss_curves.png) from the results dict; returns the report path."""
    r = results
    t, s, d = r["teacher"], r["student"], r["distill"]
    cache = cache_dir(r["config"].get("cache_dir"))
    lines = [f"# bertdistil report — preset `{r['preset']}`", "",
             "Generated by `bertdistil reproduce` from `results.json`.", "",
             "## Models", "", "| | path | layers | hidden | parameters |", "|---|---|---:|---:|---:|",
             *[f"| {who} | `{shown(m['name_or_path'], out, cache)}` | {m['layers']} | {m['hidden']} | {m['params']:,} |"
               for who, m in (("teacher", t), ("student", s))], "",
             f"Student layers copied from teacher layers {s['layer_map']}; "
             f"student/teacher parameters: {100 * s['params'] / t['params']:.1f}%.", ""]
    prep = t.get("preparation", {})
    if prep.get("prepared"):
        how = ("an MLM head was fitted to its frozen encoder" if r.get("config", {}).get("teacher_head_only")
               else "it was adapted with MLM")
        lines += [f"The teacher had no MLM head ({len(prep['missing_head'])} head tensors missing); {how} "
                  f"for {prep['steps']} steps ({prep['tokens_seen']:,} tokens, {prep['wall_s'] / 60:.1f} min).", ""]
    lines += data_lines(r.get("data"), out)
    lines += goals_section(r, Path(out))
    ev = r["eval_corpus"]
    lines += [f"## Masked-LM on {ev.get('description', 'held-out WikiText-2 valid')}", "",
              f"Fixed mask: {ev['targets']:,} target tokens out of {ev.get('evaluated_tokens', ev['tokens']):,} tokens "
              f"({ev.get('evaluated_sequences', ev['sequences']):,} sequences of ≤ {ev['max_seq_len']} tokens; "
              "the text has "
              f"{ev['tokens']:,}), every target replaced by [MASK].", "",
              "| model | masked-token accuracy (%) [95% interval] | perplexity [95% interval] | trained tokens |",
              "|---|---:|---:|---:|"]
    trained_tokens = {"student": d["tokens_seen"], **{k: v["tokens_seen"] for k, v in r.get("controls", {}).items()}}
    for name, m in r["mlm"].items():
        tok = trained_tokens.get(name)
        iv = m.get("interval")
        acc = _fmt(100 * m["accuracy"]) + (f" [{iv['accuracy'][0]:.2f}, {iv['accuracy'][1]:.2f}]" if iv else "")
        ppl = _fmt(m["perplexity"]) + (f" [{iv['perplexity'][0]:,.1f}, {iv['perplexity'][1]:,.1f}]" if iv else "")
        lines.append(f"| {ROW_NAMES.get(name, name)} | {acc} | {ppl} | {'' if tok is None else f'{tok:,}'} |")
    lines += baseline_lines(r)
    verdicts = mlm_verdicts(r["mlm"], r.get("mlm_comparisons", {}))
    lines += ["", "Student against each model on the same masked targets (paired bootstrap over evaluation sequences, "
              "95%: sampling noise of the evaluation text; each model was distilled with one seed, so seed noise is "
              "not measurable here): "
              + "; ".join(verdicts) + ".", "",
              "## Distillation run", "",
              f"- loss weights: {r['config']['loss']}",
              f"- {d['steps']} optimizer steps × {d['sequences_per_step']} sequences; {d['tokens_seen']:,} tokens "
              f"in {d['wall_s'] / 60:.1f} min ({d['tokens_per_s']:,.0f} tokens/s, {r['machine']['threads']} threads, "
              f"bf16={r['config']['bf16']})",
              f"- final loss {d['final_loss']:.4f}; terms {({k: round(v, 4) for k, v in d['loss_terms'].items()})}", ""]
    if plot_losses(logs, RunLayout(out).loss_curves):
        lines += ["![loss curves](loss_curves.png)", ""]
    else:
        lines += ["(No loss curves: they are drawn from the training logs under `runs/`, which this folder does "
                  "not hold.)", ""]
    lines += sentence_eval_section(r)
    lines += downstream_section(r, out)
    lines += efficiency_section(r)
    lines += ["## fill-mask (transformers pipeline on the saved directories)", ""]
    for who, examples in r.get("fill_mask", {}).items():
        lines += [f"**{who}**", ""]
        for prompt, preds in examples.items():
            lines.append(f"- `{prompt}` → " + ", ".join(f"{tok} ({p:.2f})" for tok, p in preds))
        lines.append("")
    lines += provenance_lines(r)
    path = RunLayout(out).report
    path.write_text("\n".join(lines))
    return path


def goals_section(r: dict, out: Path) -> list[str]:
    """The project's goals on this run (goals.py), and the learning curve when the run folder holds curve.png
    (``bertdistil report --curve DIR`` copies it from a ``bertdistil curve`` output)."""
    if not r.get("downstream"):
        return []
    lines = ["## Does distillation work here?", "", *goal_lines(r), ""]
    if (out / "curve.png").is_file():
        lines += ["Retention vs distillation compute (`bertdistil curve`; separate runs at several budgets, "
                  "see curve.json beside this report):", "", "![retention vs distillation compute](curve.png)", ""]
    return lines


def rewrite_report(out: Path) -> Path:
    """Re-create report.md from an existing run folder (results.json + runs/*/summary.json logs)."""
    layout = RunLayout(out)
    if not layout.results.is_file():
        raise BertdistilError(f"{layout.results} not found: pass the --out folder of a finished reproduce run")
    fix = f"rerun bertdistil reproduce --out {out} (same preset) to regenerate it"
    try:
        results = json.loads(layout.results.read_text())
    except ValueError as e:
        raise BertdistilError(f"{layout.results} is not a valid results file (invalid JSON: {e}): {fix}") from None
    try:
        return write_report(layout.root, results, layout.train_logs())
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as e:   # a key missing or of another type
        raise BertdistilError(f"{layout.results} is not a valid results file ({type(e).__name__}: {e}): "
                              f"{fix}") from None
