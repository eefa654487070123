"""Downstream evaluation protocol: fine-tune every model on every task with identical settings,
median over seeds, GLUE macro-score and retention (paper Tables 1–2).

Models (directories of a reproduce run): teacher (MLM-prepared; with ``teacher_head_only`` the original checkpoint,
whose encoder it shares), teacher_original (the checkpoint an MLM-adapted teacher was prepared from), truncated
(student init), mlm_only, student, and student_d = the student fine-tuned with task distillation from the
teacher fine-tuned on the task; plus the majority-class baseline row.
Epochs are chosen per run on a held-out slice of each train split (``heldout_prop``), never on dev; dev scores
are summarised over seeds as median and min–max (seedstats.py), retention is relative to the better teacher.
Each (task, model, seed) result is written to OUT/downstream/<protocol hash>/<task>/<model>/seed<k>.json
and reused, so a killed run resumes and a changed protocol never reuses old numbers.
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..config import Config
from ..data.benchmark_root import resolve_data_root, squad_files
from ..data.tasks import GLUE_ORDER, TaskSpec, builtin_tasks, heldout_split, load_examples
from ..errors import BertdistilError
from ..evaluation.metrics import task_metrics
from ..evaluation.seedstats import compare, macro_per_seed, retention, summary
from ..evaluation.zero_shot import sts_zero_shot
from ..runfolder.layout import RunLayout, cached_json
from .finetune import predict_outputs, tokenize_examples, train_classifier
from .squad import article_split, finetune_squad, flatten, load_squad, span_logits
from .trainer import FitOptions

MODELS = ("teacher", "teacher_original", "truncated", "mlm_only", "student", "student_d")   # teacher first
MAJORITY = "majority"          # the majority-class baseline row (train's most frequent class; regression: its mean)
COMPARISONS = (("student", "truncated"), ("student", "mlm_only"), ("student_d", "truncated"),
               ("student_d", "mlm_only"), ("student_d", "student"))


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
    """OUT/downstream/<hash of the fine-tuning protocol, precision and training loop>: results cached per
    protocol, so a changed learning rate, cap or precision never reuses results measured with other settings."""
    which = ("tasks", "extra_tasks", "squad", "models")       # what is run, not how: not part of the key
    teacher = {"teacher": "original checkpoint"} if cfg.teacher_head_only else {}   # layout.model_dirs
    key = json.dumps({**{k: v for k, v in asdict(cfg.finetune).items() if k not in which}, "bf16": cfg.bf16,
                      **({"fp16": True} if cfg.fp16 else {}), **teacher, "loop": "transformers.Trainer"},
                     sort_keys=True, default=str)
    return RunLayout(run).downstream / hashlib.sha256(key.encode()).hexdigest()[:12]


def task_data(spec: TaskSpec, fc) -> tuple[list, list, list]:
    """(train, held-out, dev) examples: the train split capped (``task_max_train_examples`` for this task, else
    ``max_train_examples``) and split by ``heldout_prop`` (tasks.heldout_split, fixed seed), dev capped."""
    cap = fc.task_max_train_examples.get(spec.name, fc.max_train_examples)
    train, held = heldout_split(load_examples(spec, "train", cap), fc.heldout_prop)
    return train, held, load_examples(spec, "dev", fc.max_eval_examples)


def majority_baseline(spec: TaskSpec, train_ex: list[tuple], dev_ex: list[tuple]) -> dict:
    """Dev metrics (in %) of always predicting train's most frequent class (regression: train's mean score,
    whose correlations are 0)."""
    y = np.array([e[2] for e in train_ex])
    if spec.is_regression:
        preds = np.full(len(dev_ex), float(y.mean()))
    else:
        preds = np.full(len(dev_ex), int(np.bincount(y.astype(int)).argmax()))
    return task_metrics(spec.metrics, preds, np.array([e[2] for e in dev_ex]))


def _seed_result(spec, name, src, data, fc, cfg, seed, out, order, progress, device) -> dict:
    """One (task, model, seed) fine-tuning, cached in OUT/<task>/<model>/seed<k>.json; the teacher also saves its
    outputs on the train examples when student (D) needs them."""
    train_ex, held_ex, dev_ex = data
    f = out / spec.name / name / f"seed{seed}.json"
    t_file = out / spec.name / "teacher" / f"seed{seed}.train_outputs.npy"
    keeps_outputs = name == "teacher" and "student_d" in order

    def compute() -> dict:
        t_out = np.load(t_file) if name == "student_d" else None
        opts = FitOptions.of(cfg, seed, progress, device, name, f.with_suffix(".tensorboard"))
        res, model, tok = train_classifier(src, spec, train_ex, dev_ex, fc, opts, t_out, held_ex)
        if keeps_outputs:
            t_file.parent.mkdir(parents=True, exist_ok=True)
            feats = tokenize_examples(tok, train_ex, fc.max_seq_len)
            np.save(t_file, predict_outputs(model, tok, feats, bf16=cfg.bf16))
        return res
    return cached_json(f, compute, also=t_file if keeps_outputs else None)


NOT_IN_PRESET = "not in this preset"


def unavailable(spec: TaskSpec) -> dict | None:
    """None when the task has train and dev files, else {available: False, reason} after printing the reason
    and "skipped" on stderr (a configured task is never dropped without a notice)."""
    split = next((s for s in ("train", "dev") if s not in spec.files), None)
    if split is None:
        return None
    reason = spec.missing(split)
    print(f"bertdistil: {reason}: skipped", file=sys.stderr)
    return {"available": False, "reason": reason}


def run_task(spec: TaskSpec, models: dict[str, Path], cfg: Config, out: Path, seeds: list[int],
             progress: bool = True, device="cpu") -> dict:
    """Fine-tune every model on one task for every seed, plus the majority baseline; returns
    {model: {metric: median, summary: {metric: {median, min, max, spread, n}}, seeds: {metric: [...]}, ...}}."""
    fc = cfg.finetune
    missing = unavailable(spec)
    if missing is not None:
        return missing
    data = task_data(spec, fc)
    sizes = {"train_examples": len(data[0]), "heldout_examples": len(data[1]), "dev_examples": len(data[2])}
    base = majority_baseline(spec, data[0] + data[1], data[2])
    results: dict[str, dict] = {MAJORITY: {**base, "seeds": {m: [v] for m, v in base.items()}, **sizes}}
    order = _to_run(fc.models, models)
    for name, src in order.items():
        per_seed = [_seed_result(spec, name, src, data, fc, cfg, seed, out, order, progress, device) for seed in seeds]
        vals = {m: [r[m] for r in per_seed] for m in spec.metrics}
        results[name] = {**{m: summary(v)["median"] for m, v in vals.items()}, "seeds": vals, "seed_ids": seeds,
                         "summary": {m: summary(v) for m, v in vals.items()}, **sizes,
                         "best_epochs": [r.get("best_epoch") for r in per_seed],
                         "epochs": fc.epochs, "lr": fc.lr, "batch_size": fc.batch_size, "max_seq_len": fc.max_seq_len}
    return results


def glue_scores(glue: dict, tasks: dict[str, TaskSpec]) -> dict:
    """From per-task results: {macro: {model: median macro}, macro_seeds: {model: [per seed]}, macro_summary,
    retention: {model: median %, per_task, range, reference}, comparisons: {"a vs b": seedstats.compare}}."""
    scored = {t: r for t, r in glue.items() if r.get("available", True)}
    seeds = {}
    for model in (MAJORITY, *MODELS):
        if scored and all(model in r for r in scored.values()):
            seeds[model] = macro_per_seed({t: r[model]["seeds"][tasks[t].metrics[0]] for t, r in scored.items()})
    out = {"macro": {m: summary(v)["median"] for m, v in seeds.items()}, "macro_seeds": seeds,
           "macro_summary": {m: summary(v) for m, v in seeds.items()}, "retention": {}, "comparisons": {}}
    teachers = [m for m in ("teacher", "teacher_original") if m in seeds]
    if teachers:
        ref = max(teachers, key=lambda m: out["macro"][m])          # retention is relative to the better teacher
        ret = {m: retention(v, seeds[ref]) for m, v in seeds.items() if m != ref}
        out["retention"] = {**{m: r["median"] for m, r in ret.items()}, "range": ret, "reference": ref,
                            "per_task": {m: {t: 100 * r[m][tasks[t].metrics[0]] / r[ref][tasks[t].metrics[0]]
                                             for t, r in scored.items() if m in r and r[ref][tasks[t].metrics[0]]}
                                         for m in MODELS if m != ref}}
    out["comparisons"] = {f"{a} vs {b}": compare(seeds[a], seeds[b]) for a, b in COMPARISONS
                          if a in seeds and b in seeds}
    return out


def zero_shot_results(models: dict[str, Path], spec: TaskSpec | None, out: Path, cap: int = 0,
                      device="cpu") -> dict:
    """Zero-shot STS-B dev (zeroshot.sts_zero_shot; dev capped like fine-tuning's) of every pre-trained model,
    cached in OUT/zero_shot/."""
    if spec is None or "dev" not in spec.files:
        return {}
    pairs = load_examples(spec, "dev", cap)
    return {name: cached_json(out / "zero_shot" / f"{name}.json", lambda d=d: sts_zero_shot(d, pairs, device))
            for name, d in models.items()}


def run_downstream(run: Path, cfg: Config, root: Path, progress: bool = True, device="cpu") -> dict:
    """GLUE (cfg.finetune.tasks) + IMDb etc. (extra_tasks) on the models of a reproduce run, task files
    from the data root ``root``, and zero-shot STS-B of every pre-trained model.

    Returns {glue: {task: {model: {...}}}, glue_macro: {model: median}, glue_macro_seeds, glue_macro_summary,
    retention, comparisons, zero_shot_stsb, extra: {IMDb: ...}, protocol}; unavailable GLUE tasks are listed,
    never scored.
    """
    if cfg.finetune is None:
        raise BertdistilError("this preset has no 'finetune' section: use --preset default or add one")
    fc = cfg.finetune
    models = model_dirs(run)
    tasks = builtin_tasks(root)
    out = protocol_dir(run, cfg)
    glue: dict[str, dict] = {}
    for name in GLUE_ORDER:
        spec = tasks[name]
        if name in fc.tasks:
            glue[name] = run_task(spec, models, cfg, out, fc.seeds, progress, device)
        elif {"train", "dev"} <= set(spec.files):
            glue[name] = {"available": False, "reason": NOT_IN_PRESET}
        else:                                   # neither configured nor here: no notice, marked n/a in Table 1
            glue[name] = {"available": False, "reason": spec.missing("train" if "train" not in spec.files else "dev")}
    scores = glue_scores(glue, tasks)
    extra = {name: run_task(tasks[name], models, cfg, out, fc.seeds[:1], progress, device)
             for name in fc.extra_tasks if name in tasks and unavailable(tasks[name]) is None}
    return {"glue": glue, "glue_macro": scores["macro"], "glue_macro_seeds": scores["macro_seeds"],
            "glue_macro_summary": scores["macro_summary"], "retention": scores["retention"],
            "comparisons": scores["comparisons"], "extra": extra,
            "zero_shot_stsb": zero_shot_results(models, tasks.get("STS-B"), out, fc.max_eval_examples, device),
            "protocol": {"macro_metric": MACRO_METRIC_NOTE, "seeds": fc.seeds,
                         "statistic": "median over seeds, min–max spread",
                         "max_train_examples": fc.max_train_examples,
                         "task_max_train_examples": fc.task_max_train_examples, "heldout_prop": fc.heldout_prop,
                         "max_eval_examples": fc.max_eval_examples, "epochs": fc.epochs, "lr": fc.lr,
                         "batch_size": fc.batch_size, "max_seq_len": fc.max_seq_len,
                         "task_distillation": {"alpha": fc.task_alpha, "temperature": fc.task_temperature},
                         "extra_tasks_seeds": fc.seeds[:1]}}


def _squad_seed(name, src, train_ex, eval_ex, fc, cfg, seed, out, progress, device) -> dict:
    """One SQuAD fine-tuning (``run_squad``); the teacher also saves its span logits on the train features
    (OUT/teacher/seed<k>.train_logits.npz), which student (D) distils."""
    t_file = out / "teacher" / f"seed{seed}.train_logits.npz"
    t_logits = None
    if name == "student_d":
        z = np.load(t_file)
        t_logits = (z["start"], z["end"])
    opts = FitOptions.of(cfg, seed, progress, device, name, out / name / f"seed{seed}.tensorboard")
    res, model, feats = finetune_squad(src, train_ex, eval_ex, fc, opts, t_logits)
    if name == "teacher":
        s, e = span_logits(model, feats, bf16=cfg.bf16)
        t_file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(t_file, start=s, end=e)
    if t_logits is not None and len(t_logits[0]) != res["train_features"]:
        raise BertdistilError("teacher and student tokenizers cut SQuAD into different windows: "
                              "task distillation needs the same vocabulary")
    return res


def run_squad(run: Path, cfg: Config, root: Path, progress: bool = True, device="cpu") -> dict:
    """SQuAD v1.1 on the article-disjoint dev split for every model; median EM/F1 over seeds."""
    fc = cfg.finetune
    models = model_dirs(run)
    out = protocol_dir(run, cfg) / "SQuAD"
    train_articles, eval_articles = article_split(load_squad(squad_files(root)), fc.squad_train_fraction, seed=0)
    train_ex = flatten(train_articles, fc.squad_max_train_questions or fc.max_train_examples)
    eval_ex = flatten(eval_articles, fc.max_eval_examples)
    results: dict[str, dict] = {}
    seeds = fc.seeds[:1]
    for name, src in _to_run(fc.models, models).items():
        per_seed = [cached_json(out / name / f"seed{seed}.json",
                                lambda seed=seed, name=name, src=src: _squad_seed(name, src, train_ex, eval_ex, fc,
                                                                                  cfg, seed, out, progress, device),
                                also=out / "teacher" / f"seed{seed}.train_logits.npz" if name == "teacher" else None)
                    for seed in seeds]
        results[name] = {m: summary([r[m] for r in per_seed])["median"] for m in ("exact_match", "f1")}
        results[name].update(seeds={m: [r[m] for r in per_seed] for m in ("exact_match", "f1")}, seed_ids=seeds,
                             train_questions=len(train_ex), eval_questions=len(eval_ex))
    return {"results": results, "protocol": {
        "split": f"article-disjoint split of dev-v1.1: {len(train_articles)} articles to fine-tune, "
                 f"{len(eval_articles)} to evaluate (titles sorted, permuted with seed 0); NOT comparable to the "
                 "official dev number", "eval_titles": sorted(a["title"] for a in eval_articles),
        "max_seq_len": fc.squad_max_seq_len, "doc_stride": fc.squad_doc_stride, "epochs": fc.epochs, "lr": fc.lr,
        "seeds": seeds}}


def downstream_results(out: Path, cfg: Config, progress: bool, device) -> dict:
    """Tables 1–2 inputs for a finished pre-training run: glue, glue_macro, retention, imdb, squad.
    BertdistilError without a data root."""
    root = resolve_data_root(cfg.data_dir)
    if root is None:
        raise BertdistilError("downstream evaluation needs the benchmark data: pass --data-dir DIR or set "
                              "BERTDISTIL_DATA (a folder with glue/, imdb/, squad/)")
    ds = run_downstream(out, cfg, root, progress, device)
    res = {"downstream": ds, "glue": ds["glue"], "glue_macro": ds["glue_macro"], "retention": ds["retention"],
           "imdb": ds["extra"].get("IMDb")}
    if cfg.finetune.squad and squad_files(root):
        res["squad"] = run_squad(out, cfg, root, progress, device)
    elif cfg.finetune.squad:
        print(f"bertdistil: SQuAD: no dev-v1.1.json[.gz] or validation split under {root / 'squad'}: skipped",
              file=sys.stderr)
    return res
