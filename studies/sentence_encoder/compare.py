"""The sentence-encoder comparison: every model and distillation seed on the suite, in one file.

Reads bertdistil run folders (RUN/results.json and RUN/sentence_eval/<model>.json; one run per distillation
seed of a recipe) and the layer-reduction peer's OUT/result.json files (studies/sentence_encoder/
st_layer_reduction.py, one per seed), and writes

  {"models": {NAME: {"seeds": {"1": {"sts_mean", "sts_mean_mteb", "STS12", …, "STS-B", "probes": {MR: …},
                                     "probe_mean", "tokens", "wall_s"}, …},
                     "summary": {"sts_mean": {median, min, max, spread, n}, "probe_mean": {…}, …}}, …},
   "comparisons": {"A vs B": seedstats.compare on sts_mean and probe_mean}}

``sts_mean`` is the mean Spearman over STS12–STS15, SICK-R and STS-B dev; ``sts_mean_mteb`` leaves STS-B out.
The teacher and the truncated control are deterministic (no training): their "seeds" are one entry. Usage:

  .venv/bin/python studies/sentence_encoder/compare.py --out results/sentence_encoder/compare.json \
      --runs bertdistil_default=RUN1,RUN2,RUN3 [--peer sentence_transformers_layer_reduction=OUT1,OUT2,OUT3]
"""
import argparse
import json
import statistics
from pathlib import Path

from bertdistil.evaluation.seedstats import compare, summary

MTEB = ("STS12", "STS13", "STS14", "STS15", "SICK-R")


def row(suite: dict, tokens=None, wall_s=None) -> dict:
    """One model's scores: every STS Spearman, the two STS means, probe accuracies and their mean."""
    sts = {k: round(v["spearman"], 3) for k, v in suite["sts"].items()}
    out = {**sts, "sts_mean": round(statistics.mean(sts.values()), 3),
           "sts_mean_mteb": round(statistics.mean(sts[k] for k in MTEB), 3),
           "probes": {k: v["accuracy"] for k, v in suite["probes"].items()},
           "probe_mean": round(suite["probe_mean"], 3)}
    return out | ({"tokens": tokens, "wall_s": round(wall_s, 1)} if tokens is not None else {})


def bertdistil_seeds(runs: list[Path]) -> tuple[dict, dict]:
    """({seed: student row}, {"teacher": row, "truncated": row}) of a recipe's run folders."""
    seeds, fixed = {}, {}
    for run in runs:
        res = json.loads((run / "results.json").read_text())
        seed = res["config"].get("distill_seed") or res["config"]["seed"]
        d = res["distill"]
        seeds[str(seed)] = row(json.loads((run / "sentence_eval" / "student.json").read_text()), d["tokens_seen"],
                               d["wall_s"])
        for name in ("teacher", "truncated"):
            f = run / "sentence_eval" / f"{name}.json"
            if f.is_file():
                fixed.setdefault(name, row(json.loads(f.read_text())))
    return seeds, fixed


def peer_seeds(outs: list[Path]) -> dict:
    """{seed: row} of the layer-reduction peer's result.json files."""
    seeds = {}
    for out in outs:
        r = json.loads((out / "result.json").read_text())
        seeds[str(r.get("seed", len(seeds) + 1))] = row(r["suite"], r["tokens"], r["wall_s"])
    return seeds


def with_summary(seeds: dict) -> dict:
    keys = ("sts_mean", "sts_mean_mteb", "probe_mean", *MTEB, "STS-B")
    return {"seeds": seeds, "summary": {k: summary([s[k] for s in seeds.values()]) for k in keys}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--runs", action="append", default=[], help="NAME=RUN[,RUN…]: a bertdistil recipe's runs")
    ap.add_argument("--peer", action="append", default=[], help="NAME=OUT[,OUT…]: layer-reduction peer outputs")
    a = ap.parse_args()
    models, fixed = {}, {}
    for spec in a.runs:
        name, paths = spec.split("=", 1)
        seeds, f = bertdistil_seeds([Path(p) for p in paths.split(",")])
        models[name] = with_summary(seeds)
        for k, v in f.items():
            fixed.setdefault(k, v)
    for spec in a.peer:
        name, paths = spec.split("=", 1)
        models[name] = with_summary(peer_seeds([Path(p) for p in paths.split(",")]))
    for name, r in fixed.items():
        models[name] = with_summary({"-": r})
    comparisons = {}
    names = [n for n in models if n not in fixed]
    for a_name in names:
        for b_name in [*names[names.index(a_name) + 1:], "truncated"]:
            if b_name in models:
                va = {k: [s[k] for s in models[a_name]["seeds"].values()] for k in ("sts_mean", "sts_mean_mteb",
                                                                                     "probe_mean")}
                vb = {k: [s[k] for s in models[b_name]["seeds"].values()] for k in va}
                if b_name in fixed:             # no training, no seed: the same value under every seed
                    vb = {k: v * len(va[k]) for k, v in vb.items()}
                comparisons[f"{a_name} vs {b_name}"] = {k: compare(va[k], vb[k]) for k in va}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"models": models, "comparisons": comparisons}, indent=1))
    print("\n".join(markdown(models)))


def markdown(models: dict) -> list[str]:
    """The comparison as a Markdown table: per model the median over seeds, [min–max] when seeds differ."""
    cols = (*MTEB, "STS-B", "sts_mean", "sts_mean_mteb", "probe_mean")
    lines = ["| model (seeds) | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, m in models.items():
        cells = []
        for c in cols:
            s = m["summary"][c]
            cells.append(f"{s['median']:.2f}" + (f" [{s['min']:.2f}–{s['max']:.2f}]" if s["spread"] else ""))
        n = "no training" if list(m["seeds"]) == ["-"] else f"{m['summary']['sts_mean']['n']} seeds"
        lines.append(f"| {name} ({n}) | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    main()
