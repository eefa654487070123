"""Fine-tuning speed of two versions of bertdistil, alternating: the `default` preset's protocol per GLUE task
(its caps, 10% held-out epoch selection, 3 epochs, batch 32, the run's precision) on one model.

Each (round, task) runs both versions in ABBA order (A = before, B = after in even rounds, the reverse in odd
ones), each in a fresh process whose PYTHONPATH is that version's `src/`, nothing else running. Reports per
task the median train seconds (fine-tuning incl. the per-epoch held-out scoring), the after/before ratio, and
the dev scores, which must agree within seed noise (same seed, different loops). Usage:

  git worktree add /tmp/before <commit>        # the version to compare against
  .venv/bin/python studies/finetune_loop/before_after.py --before-src /tmp/before/src --model MODEL_DIR \
      --data-dir DATA --out results/finetune_loop/before_after.json [--tasks CoLA,SST-2,MRPC,STS-B,RTE] [--rounds 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, sys
from pathlib import Path
from bertdistil.config import load_preset
from bertdistil.data.tasks import builtin_tasks
from bertdistil.downstream.finetune import FitOptions, train_classifier
from bertdistil.downstream.protocol import task_data
model, root, task = sys.argv[1:4]
cfg = load_preset("default")
spec = builtin_tasks(Path(root))[task]
train, held, dev = task_data(spec, cfg.finetune)
res, _, _ = train_classifier(model, spec, train, dev, cfg.finetune, FitOptions(seed=1, bf16=cfg.bf16, progress=False),
                             heldout_ex=held)
print(json.dumps(res))
"""


def run(src: str, model: str, root: str, task: str) -> dict:
    env = {**os.environ, "PYTHONPATH": src, "BERTDISTIL_DATA": root}
    out = subprocess.run([sys.executable, "-c", CHILD, model, root, task], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before-src", required=True)
    ap.add_argument("--after-src", default=str(Path(__file__).parents[2] / "src"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tasks", default="CoLA,SST-2,MRPC,STS-B,RTE")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    srcs = {"before": a.before_src, "after": a.after_src}
    runs: dict = {t: {"before": [], "after": []} for t in a.tasks.split(",")}
    for r in range(a.rounds):
        for task in runs:
            order = ["before", "after", "after", "before"] if r % 2 == 0 else ["after", "before", "before", "after"]
            for who in order:
                res = run(srcs[who], a.model, a.data_dir, task)
                runs[task][who].append(res)
                print(f"round {r + 1} {task} {who}: {res['train_s']} s", file=sys.stderr, flush=True)
    summary = {}
    for task, by in runs.items():
        med = {w: statistics.median(x["train_s"] for x in v) for w, v in by.items()}
        metric = next(k for k in ("mcc", "f1", "pearson", "accuracy") if k in by["after"][0])
        summary[task] = {"train_s": med, "ratio_after_over_before": round(med["after"] / med["before"], 3),
                         "metric": metric, "scores": {w: sorted({x[metric] for x in v}) for w, v in by.items()},
                         "train_examples": by["after"][0]["train_examples"]}
    total = {w: sum(s["train_s"][w] for s in summary.values()) for w in ("before", "after")}
    out = {"protocol": "default preset finetune section, seed 1, held-out epoch selection", "model": a.model,
           "rounds": a.rounds, "order": "ABBA / BAAB alternating", "tasks": summary, "total_train_s": total,
           "ratio_after_over_before": round(total["after"] / total["before"], 3), "runs": runs}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("total_train_s", "ratio_after_over_before")}))


if __name__ == "__main__":
    main()
