"""``bertdistil finetune / evaluate / predict``: one model, one task, from the command line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from transformers import AutoModelForSequenceClassification

from .checkpoint import save_model_dir, write_json
from .errors import BertdistilError
from .finetune import encode, finetune, predict_outputs, to_predictions
from .metrics import task_metrics
from .models import check_model_dir, load_tokenizer
from .tasks import TaskSpec, _rows, builtin_tasks, load_split, user_task


def resolve_task(name: str, train: str | None = None, dev: str | None = None, regression: bool = False) -> TaskSpec:
    """A built-in task by name, or a user task from --train/--dev files (BertdistilError if neither)."""
    if train or dev:
        if not (train and dev):
            raise BertdistilError("a task of your own needs both --train FILE and --dev FILE")
        return user_task(name, train, dev, regression or None)
    tasks = builtin_tasks()
    if name not in tasks:
        raise BertdistilError(f"unknown task '{name}': choose {', '.join(tasks)} or pass --train FILE --dev FILE")
    return tasks[name]


def finetune_command(args, cfg) -> int:
    fc = cfg.finetune
    if fc is None:
        raise BertdistilError(f"preset {cfg.preset} has no 'finetune' section: use --preset default or smoke")
    spec = resolve_task(args.task, args.train, args.dev, args.regression)
    model_dir = check_model_dir(args.model)
    if "train" not in spec.files:
        raise BertdistilError(f"{spec.name}: no train split here (data not available); pass --train FILE --dev FILE")
    train_ex = load_split(spec, spec.files["train"], limit=fc.max_train_examples)
    dev_ex = load_split(spec, spec.files["dev"], limit=fc.max_eval_examples)
    t_out = None
    if args.teacher_model:
        t_dir = check_model_dir(args.teacher_model, "teacher model")
        t_tok = load_tokenizer(t_dir)
        teacher = AutoModelForSequenceClassification.from_pretrained(str(t_dir))
        t_out = predict_outputs(teacher, t_tok, encode(t_tok, train_ex, fc.max_seq_len), bf16=cfg.bf16)
    res, model, tok = finetune(model_dir, spec, train_ex, dev_ex, fc, args.seed, cfg.bf16, t_out, not args.quiet)
    if spec.labels is not None:
        model.config.id2label = dict(enumerate(spec.labels))
        model.config.label2id = {v: k for k, v in enumerate(spec.labels)}
    model.config.finetuning_task = spec.name
    save_model_dir(model, tok, args.out)
    write_json({"task": spec.name, **res}, Path(args.out) / "eval_results.json")
    print(json.dumps({"task": spec.name, "out": str(args.out), **res}, indent=1))
    return 0


def _load_finetuned(model: str):
    d = check_model_dir(model)
    m = AutoModelForSequenceClassification.from_pretrained(str(d))
    return m, load_tokenizer(d)


def evaluate_command(args, cfg) -> int:
    spec = resolve_task(args.task)
    dev = args.dev or spec.files.get("dev")
    if dev is None:
        raise BertdistilError(f"{spec.name}: no dev split here; pass --dev FILE")
    model, tok = _load_finetuned(args.model)
    ex = load_split(spec, dev)
    preds = to_predictions(spec, predict_outputs(model, tok, encode(tok, ex, 128), bf16=cfg.bf16))
    print(json.dumps(task_metrics(spec.metrics, preds, np.array([e[2] for e in ex])), indent=1))
    return 0


def predict_file(model: str, task: str, input_file: str, output_file: str) -> int:
    """Write ``index<TAB>prediction`` rows (GLUE submission format) for every row of ``input_file``;
    labels are the task's label names, scores for regression. Returns the number of rows."""
    spec = resolve_task(task)
    path = Path(input_file)
    if not path.is_file():
        raise BertdistilError(f"input file {path} not found")
    rows = [r for _, r in _rows(path, True)] if spec.header else None      # one read gives columns and index
    labelled = rows is None or "label" in (rows[0] if rows else {})
    ex = load_split(spec, path, labelled=labelled)
    index = [r.get("index", str(i)) for i, r in enumerate(rows)] if rows is not None else [str(i) for i in range(len(ex))]
    m, tok = _load_finetuned(model)
    if m.config.num_labels != spec.num_labels:
        raise BertdistilError(f"{model} has {m.config.num_labels} outputs but {spec.name} needs {spec.num_labels}: "
                              "pass a model fine-tuned on this task")
    preds = to_predictions(spec, predict_outputs(m, tok, encode(tok, ex, 128)))
    with open(output_file, "w") as f:
        f.write("index\tprediction\n")
        for i, p in zip(index, preds):
            f.write(f"{i}\t{p:.3f}\n" if spec.is_regression else f"{i}\t{spec.labels[int(p)]}\n")
    return len(preds)
