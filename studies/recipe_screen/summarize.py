"""Summarise the recipe screens (screen.sh, screen2.sh): zero-shot STS-B, masked-LM accuracy with bootstrap
intervals, paired differences against the paper recipe (base56, same seed), and the spread of the paper recipe
over three distillation seeds. Usage: .venv/bin/python studies/recipe_screen/summarize.py [RUNS]
→ results/recipe_screen/screen.json, results/recipe_screen/screen.md"""
import json
import statistics
import sys
from pathlib import Path

from bertdistil.evaluation.bootstrap import interval, paired_difference

RUNS = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/screen")
OUT = Path(__file__).resolve().parents[2] / "results" / "recipe_screen"   # the data: results/, not studies/
NAMES = {"base56": "paper recipe (triple loss), seed 56", "base57": "paper recipe, distillation seed 57",
         "base58": "paper recipe, distillation seed 58",
         "original": "hidden-state targets from the original teacher",
         "tinybert": "+ TinyBERT every-layer hidden MSE (α 1)", "pkd": "+ Patient-KD [CLS] layers (α 10)",
         "minilm": "+ MiniLM attention + value relations (α 1 + 1)",
         "combo": "original-teacher targets + TinyBERT + MiniLM",
         "headonly": "head-only teacher prep (original encoder), paper recipe",
         "orig_init": "head-only teacher's init, original-teacher targets, adapted teacher's soft targets"}
zs = json.loads((OUT / "zero_shot.json").read_text())
if (OUT / "zero_shot2.json").is_file():                       # screen2.sh
    zs |= json.loads((OUT / "zero_shot2.json").read_text())
NAMES = {k: v for k, v in NAMES.items() if k in zs}
per = {n: json.loads(next((RUNS / n / "eval").glob("*/student.json")).read_text()) for n in NAMES}
rows = {}
for n in NAMES:
    s = json.loads((OUT / n / "summary.json").read_text())
    rows[n] = {"description": NAMES[n], "zero_shot_spearman": zs[n]["spearman"],
               "mlm_accuracy": 100 * per[n]["accuracy"], "mlm_interval": interval(per[n]["per_sequence"])["accuracy"],
               "perplexity": per[n]["perplexity"], "tokens": s["tokens_seen"], "wall_s": s["wall_s"],
               "tokens_per_s": s["tokens_per_s"], "final_terms": s["loss_terms"]}
    if n != "base56":
        rows[n]["vs_base56"] = paired_difference(per[n]["per_sequence"], per["base56"]["per_sequence"])
seeds = [rows[n]["zero_shot_spearman"] for n in ("base56", "base57", "base58")]
accs = [rows[n]["mlm_accuracy"] for n in ("base56", "base57", "base58")]
refs = ("teacher_original", "teacher", "truncated", "teacher_head_only", "truncated_original")
res = {"rows": rows, "references": {k: zs[k] for k in refs if k in zs},
       "paper_recipe_over_seeds": {"zero_shot": {"median": statistics.median(seeds), "min": min(seeds),
                                                 "max": max(seeds)},
                                   "mlm_accuracy": {"median": statistics.median(accs), "min": min(accs),
                                                    "max": max(accs)}}}
(OUT / "screen.json").write_text(json.dumps(res, indent=1))
lines = ["| recipe | zero-shot STS-B | masked-token acc. % [95%] | Δ acc. vs seed-56 paper recipe [95%] | tokens/s |",
         "|---|---:|---:|---:|---:|"]
for k, v in res["references"].items():
    lines.append(f"| {k} (reference, not trained here) | {v['spearman']:.1f} | | | |")
for _name, r in rows.items():
    lo, hi = r["mlm_interval"]
    d = r.get("vs_base56")
    dd = f"{d['accuracy']:+.2f} [{d['accuracy_interval'][0]:+.2f}, {d['accuracy_interval'][1]:+.2f}]" if d else ""
    lines.append(f"| {r['description']} | {r['zero_shot_spearman']:.1f} | {r['mlm_accuracy']:.2f} [{lo:.2f}, {hi:.2f}] "
                 f"| {dd} | {r['tokens_per_s']:,.0f} |")
p = res["paper_recipe_over_seeds"]
lines += ["", f"Paper recipe over distillation seeds 56–58: zero-shot {p['zero_shot']['median']:.1f} "
          f"({p['zero_shot']['min']:.1f}–{p['zero_shot']['max']:.1f}), masked-token accuracy "
          f"{p['mlm_accuracy']['median']:.2f}% ({p['mlm_accuracy']['min']:.2f}–{p['mlm_accuracy']['max']:.2f})."]
(OUT / "screen.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
