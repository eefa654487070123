"""Downstream evaluation protocol: fine-tune every model on every task with identical settings,
median over seeds, GLUE macro-score and retention (paper Tables 1–2).

Models (directories of a reproduce run): teacher, truncated (student init), mlm_only, student, and
student_d = the student fine-tuned with task distillation from the teacher fine-tuned on the task.
Each (task, model, seed) result is written to OUT/downstream/<protocol hash>/<task>/<model>/seed<k>.json
and reused, so a killed run resumes and a changed protocol never reuses old numbers.
"""
from __future__ import annotations

import hashlib
import json
import statistics
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .checkpoint import write_json
from .config import Config
from .errors import BertdistilError
from .finetune import encode, finetune, predict_outputs
from .layout import RunLayout
from .tasks import GLUE_ORDER, TaskSpec, builtin_tasks, load_examples

MODELS = ("teacher", "truncated", "mlm_only", "student", "student_d")   # fine-tuning order: teacher first


def _to_run(wanted: list[str], models: dict[str, Path]) -> dict[str, Path]:
    """{model name: directory to fine-tune} in MODELS order; student_d fine-tunes the student and
    needs the teacher (its task-distillation targets)."""
    out = {}
    for name in MODELS:
        src = models.get("student" if name == "student_d" else name)
        if name in wanted and src is not None and (name != "student_d" or "teacher" in models):
            out[name] = src
    return out


MACRO_METRIC_NOTE = "CoLA: Matthews corr.; MRPC: F1; STS-B: Pearson; others: accuracy (the first metric of each task)"


def model_dirs(run: Path) -> dict[str, Path]:
    """The model directories of a reproduce run folder (layout.RunLayout.model_dirs)."""
    return RunLayout(run).model_dirs()


def protocol_dir(run: Path, cfg: Config) -> Path:
    """OUT/downstream/<hash of the fine-tuning protocol and bf16>: results cached per protocol, so a
    changed learning rate or cap never reuses results measured with other settings."""
    which = ("tasks", "extra_tasks", "squad", "models")       # what is run, not how: not part of the key
    key = json.dumps({**{k: v for k, v in asdict(cfg.finetune).items() if k not in which}, "bf16": cfg.bf16},
                     sort_keys=True, default=str)
    return RunLayout(run).downstream / hashlib.sha256(key.encode()).hexdigest()[:12]


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def run_task(spec: TaskSpec, models: dict[str, Path], cfg: Config, out: Path, seeds: list[int],
             progress: bool = True, device="cpu") -> dict:
    """Fine-tune every model on one task for every seed; returns {model: {metric: median, seeds: [...], protocol}}."""
    fc = cfg.finetune
    if "train" not in spec.files or "dev" not in spec.files:
        missing = "train" if "train" not in spec.files else "dev"
        return {"available": False, "reason": f"{spec.name}: no {missing} split here"}
    train_ex = load_examples(spec, "train", fc.max_train_examples)
    dev_ex = load_examples(spec, "dev", fc.max_eval_examples)
    results: dict[str, dict] = {}
    order = _to_run(fc.models, models)
    for name, src in order.items():
        per_seed = []
        for seed in seeds:
            f = out / spec.name / name / f"seed{seed}.json"
            t_file = out / spec.name / "teacher" / f"seed{seed}.train_outputs.npy"
            if f.is_file() and (name != "teacher" or t_file.is_file() or "student_d" not in order):
                per_seed.append(json.loads(f.read_text()))
                continue
            t_out = None
            if name == "student_d":
                t_out = np.load(t_file)
            res, model, tok = finetune(src, spec, train_ex, dev_ex, fc, seed, bf16=cfg.bf16, teacher_outputs=t_out,
                                       progress=progress, device=device, name=name)
            if name == "teacher" and "student_d" in order:
                t_file.parent.mkdir(parents=True, exist_ok=True)
                np.save(t_file, predict_outputs(model, tok, encode(tok, train_ex, fc.max_seq_len), bf16=cfg.bf16))
            f.parent.mkdir(parents=True, exist_ok=True)
            write_json(res, f)
            per_seed.append(res)
        metrics = {m: _median([r[m] for r in per_seed]) for m in spec.metrics}
        results[name] = {**metrics, "seeds": {m: [r[m] for r in per_seed] for m in spec.metrics},
                         "seed_ids": seeds, "train_examples": len(train_ex), "dev_examples": len(dev_ex),
                         "epochs": fc.epochs, "lr": fc.lr, "batch_size": fc.batch_size, "max_seq_len": fc.max_seq_len}
    return results


def run_downstream(run: Path, cfg: Config, root: Path, progress: bool = True, device="cpu") -> dict:
    """GLUE (cfg.finetune.tasks) + IMDb etc. (extra_tasks) on the models of a reproduce run, task files
    from the data root ``root``.

    Returns {glue: {task: {model: {...}}}, glue_macro: {model: score}, retention: {...}, imdb: {...},
    protocol: {...}}; unavailable GLUE tasks (MNLI, QQP, QNLI without train) are listed, never scored.
    """
    if cfg.finetune is None:
        raise BertdistilError("this preset has no 'finetune' section: use --preset default or add one")
    fc = cfg.finetune
    models = model_dirs(run)
    tasks = builtin_tasks(root)
    out = protocol_dir(run, cfg)
    glue: dict[str, dict] = {}
    for name in GLUE_ORDER:
        spec = tasks.get(name)
        if spec is None or "train" not in spec.files:
            glue[name] = {"available": False, "reason": "data not available here"}
            continue
        if name not in fc.tasks:
            glue[name] = {"available": False, "reason": "not in this preset"}
            continue
        glue[name] = run_task(spec, models, cfg, out, fc.seeds, progress, device)
    scored = {t: r for t, r in glue.items() if r.get("available", True)}
    macro: dict[str, float] = {}
    for model in MODELS:
        vals = [r[model][tasks[t].metrics[0]] for t, r in scored.items() if model in r]
        if vals and len(vals) == len(scored):
            macro[model] = float(np.mean(vals))
    retention = {}
    if "teacher" in macro:
        retention = {m: 100 * v / macro["teacher"] for m, v in macro.items() if m != "teacher"}
        retention["per_task"] = {m: {t: 100 * r[m][tasks[t].metrics[0]] / r["teacher"][tasks[t].metrics[0]]
                                     for t, r in scored.items() if m in r and r["teacher"][tasks[t].metrics[0]]}
                                 for m in MODELS[1:]}
    extra = {}
    for name in fc.extra_tasks:
        if name in tasks and {"train", "dev"} <= set(tasks[name].files):
            extra[name] = run_task(tasks[name], models, cfg, out, fc.seeds[:1], progress, device)
    return {"glue": glue, "glue_macro": macro, "retention": retention, "extra": extra,
            "protocol": {"macro_metric": MACRO_METRIC_NOTE, "seeds": fc.seeds, "statistic": "median over seeds",
                         "max_train_examples": fc.max_train_examples, "max_eval_examples": fc.max_eval_examples,
                         "epochs": fc.epochs, "lr": fc.lr, "batch_size": fc.batch_size, "max_seq_len": fc.max_seq_len,
                         "task_distillation": {"alpha": fc.task_alpha, "temperature": fc.task_temperature},
                         "extra_tasks_seeds": fc.seeds[:1]}}


def run_squad(run: Path, cfg: Config, root: Path, progress: bool = True, device="cpu") -> dict:
    """SQuAD v1.1 on the article-disjoint dev split for every model; median EM/F1 over seeds."""
    from .dataroot import squad_files
    from .squad import article_split, finetune_squad, flatten, load_squad, span_logits
    fc = cfg.finetune
    models = model_dirs(run)
    out = protocol_dir(run, cfg) / "SQuAD"
    train_articles, eval_articles = article_split(load_squad(squad_files(root)), fc.squad_train_fraction, seed=0)
    train_ex = flatten(train_articles, fc.squad_max_train_questions or fc.max_train_examples)
    eval_ex = flatten(eval_articles, fc.max_eval_examples)
    results: dict[str, dict] = {}
    seeds = fc.seeds[:1]
    for name, src in _to_run(fc.models, models).items():
        per_seed = []
        for seed in seeds:
            f = out / name / f"seed{seed}.json"
            t_file = out / "teacher" / f"seed{seed}.train_logits.npz"
            if f.is_file() and (name != "teacher" or t_file.is_file()):
                per_seed.append(json.loads(f.read_text()))
                continue
            t_logits = None
            if name == "student_d":
                z = np.load(t_file)
                t_logits = (z["start"], z["end"])
            res, model, feats = finetune_squad(src, train_ex, eval_ex, fc, seed, cfg.bf16, t_logits, progress, device,
                                               name)
            if name == "teacher":
                s, e = span_logits(model, feats, bf16=cfg.bf16)
                t_file.parent.mkdir(parents=True, exist_ok=True)
                np.savez(t_file, start=s, end=e)
            if t_logits is not None and len(t_logits[0]) != res["train_features"]:
                raise BertdistilError("teacher and student tokenizers cut SQuAD into different windows: "
                                      "task distillation needs the same vocabulary")
            f.parent.mkdir(parents=True, exist_ok=True)
            write_json(res, f)
            per_seed.append(res)
        results[name] = {m: _median([r[m] for r in per_seed]) for m in ("exact_match", "f1")}
        results[name].update(seeds={m: [r[m] for r in per_seed] for m in ("exact_match", "f1")}, seed_ids=seeds,
                             train_questions=len(train_ex), eval_questions=len(eval_ex))
    return {"results": results, "protocol": {
        "split": f"article-disjoint split of dev-v1.1: {len(train_articles)} articles to fine-tune, "
                 f"{len(eval_articles)} to evaluate (titles sorted, permuted with seed 0); NOT comparable to the "
                 "official dev number", "eval_titles": sorted(a["title"] for a in eval_articles),
        "max_seq_len": fc.squad_max_seq_len, "doc_stride": fc.squad_doc_stride, "epochs": fc.epochs, "lr": fc.lr,
        "seeds": seeds}}


def downstream_command(args, cfg: Config) -> int:
    """``bertdistil downstream``: Tables 1–2 for the models of a reproduce folder → RUN/downstream.json."""
    from .models import resolve_device
    from .pipeline import downstream_results
    from .runlock import run_lock
    if cfg.finetune is None:
        raise BertdistilError(f"preset {cfg.preset} has no 'finetune' section: use --preset default or smoke")
    layout = RunLayout(args.run)
    if not layout.results.is_file():
        raise BertdistilError(f"{args.run}/results.json not found: pass the --out folder of a finished reproduce run")
    with run_lock(args.run):
        res = downstream_results(args.run, cfg, not args.quiet, resolve_device(cfg.device))
        write_json(res, layout.downstream_json)
    print(json.dumps({"glue_macro": res["glue_macro"],
                      "retention": {k: v for k, v in res["retention"].items() if k != "per_task"}}, indent=1))
    return 0
