"""The ablation table (the paper's Table 4) as markdown, from ``bertdistil ablate``'s results."""
from __future__ import annotations

from ..evaluation.seedstats import compare, verdict


def table4(res: dict) -> list[str]:
    """Markdown Table 4: row | GLUE macro | Δ vs full (ours) | Δ (paper) | tokens, plus the protocol."""
    p = res["protocol"]
    lines = ["## Table 4 — ablation (GLUE macro-score relative to the full recipe)", "",
             f"Every row: {p['distill_steps']} distillation steps × {p['sequences_per_step']} sequences; "
             f"fine-tuned on {', '.join(p['tasks'])} (≤ {p['max_train_examples'] or 'all'} train examples, "
             f"{p['epochs']} epochs, lr {p['lr']}, median of seeds {p['seeds']}). Paper deltas: arXiv:1910.01108 "
             "Table 4 (full GLUE, paper budget).", "",
             "| ablation | GLUE macro (ours) | per-seed macro (min–max) | Δ ours | |Δ| beyond seed spread | Δ paper | "
             "distilled tokens |",
             "|---|---:|---:|---:|---|---:|---:|"]
    full = res["ablation"]["full"].get("seed_macro") or [res["ablation"]["full"]["glue_macro"]]
    for key, r in res["ablation"].items():
        paper = "" if r["paper_delta"] is None else f"{r['paper_delta']:+.2f}"
        seeds = r.get("seed_macro") or [r["glue_macro"]]
        beyond = "" if key == "full" else verdict(compare(*((full, seeds) if r["delta"] < 0 else (seeds, full))))
        lines.append(f"| {r['description']} | {r['glue_macro']:.2f} | {min(seeds):.2f}–{max(seeds):.2f} | "
                     f"{r['delta']:+.2f} | {beyond} | {paper} | {r['tokens']:,} |")
    in_paper = {k: r["paper_delta"] for k, r in res["ablation"].items() if r.get("paper_delta") is not None}
    ours = sorted((res["ablation"][k]["delta"], k) for k in in_paper)
    paper = sorted((v, k) for k, v in in_paper.items())
    same = [k for _, k in ours] == [k for _, k in paper]
    lines += ["", f"Ordering of the paper's rows (most harmful first): ours {[k for _, k in ours]}, paper "
              f"{[k for _, k in paper]} — {'the same' if same else 'different'}."]
    return lines
