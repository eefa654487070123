"""Fine-tuning on a sentence(-pair) classification or regression task, with optional task
distillation ("DistilBERT (D)": Hinton et al. 2015 soft targets from a teacher fine-tuned on the task).

Training runs on transformers' Trainer (trainer.DistillationTrainer, which has the losses); this module encodes
examples, predicts and scores with a model (dynamic padding, examples sorted by length, mixed-precision autocast).
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, set_seed

from ..config import FinetuneConfig
from ..data.tasks import TaskSpec
from ..evaluation.metrics import task_metrics
from ..models.loading import load_tokenizer
from .trainer import FitOptions, fit


def tokenize_examples(tokenizer, examples: list[tuple], max_len: int) -> list[dict]:
    """Tokenize (text_a, text_b, label) examples; returns one dict of python lists per example."""
    a = [e[0] for e in examples]
    b = [e[1] for e in examples] if examples and examples[0][1] is not None else None
    enc = tokenizer(a, b, truncation=True, max_length=max_len)
    return [{k: enc[k][i] for k in enc} for i in range(len(examples))]


def _batch(tokenizer, feats: list[dict], idx) -> dict[str, torch.Tensor]:
    return tokenizer.pad([feats[i] for i in idx], return_tensors="pt")


def _autocast(bf16: bool, device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


@torch.inference_mode()
def predict_outputs(model, tokenizer, feats: list[dict], batch_size: int = 128, bf16: bool = True) -> np.ndarray:
    """Model outputs for encoded examples: logits (N, C) float32, or scores (N, 1) for regression."""
    model.eval()
    device = next(model.parameters()).device
    order = np.argsort([len(f["input_ids"]) for f in feats], kind="stable")
    out = np.zeros((len(feats), model.config.num_labels), dtype=np.float32)
    with _autocast(bf16, device):
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            batch = {k: v.to(device) for k, v in _batch(tokenizer, feats, idx).items()}
            out[idx] = model(**batch).logits.float().cpu().numpy()
    return out


def to_predictions(spec: TaskSpec, outputs: np.ndarray) -> np.ndarray:
    """Class ids (argmax) or regression scores (N,) from model outputs (N, C)."""
    return outputs[:, 0] if spec.is_regression else outputs.argmax(-1)


def _load_classifier(model_dir, spec: TaskSpec, device: torch.device):
    kwargs = {"num_labels": spec.num_labels, "local_files_only": True}
    if spec.is_regression:
        kwargs["problem_type"] = "regression"
    if spec.names is not None:                  # saved classifiers (and their compressed variants) say "positive"
        kwargs["id2label"] = dict(enumerate(spec.names))
        kwargs["label2id"] = {name: i for i, name in enumerate(spec.names)}
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), **kwargs).to(device)
    return model, load_tokenizer(model_dir)


def _metrics_of(model, tokenizer, spec: TaskSpec, feats: list[dict], gold: np.ndarray, bf16: bool) -> dict:
    return task_metrics(spec.metrics, to_predictions(spec, predict_outputs(model, tokenizer, feats, bf16=bf16)), gold)


def score(model, tokenizer, spec: TaskSpec, examples: list[tuple], max_len: int, bf16: bool = True) -> dict:
    """The task's metrics (in %) of ``model`` on labelled ``examples``."""
    return _metrics_of(model, tokenizer, spec, tokenize_examples(tokenizer, examples, max_len),
                       np.array([e[2] for e in examples]), bf16)


def _rows(feats: list[dict], labels: list, teacher_outputs: np.ndarray | None = None) -> list[dict]:
    """Trainer rows: the encoded example, its ``labels`` and, for task distillation, its ``teacher_logits``."""
    rows = [{**f, "labels": y} for f, y in zip(feats, labels)]
    if teacher_outputs is not None:
        for r, t in zip(rows, teacher_outputs.astype(np.float32)):
            r["teacher_logits"] = t
    return rows


def train_classifier(model_dir: str | Path, spec: TaskSpec, train_ex: list[tuple], dev_ex: list[tuple],
                     cfg: FinetuneConfig, opts: FitOptions | None = None, teacher_outputs: np.ndarray | None = None,
                     heldout_ex: list[tuple] | None = None) -> tuple[dict, object, object]:
    """Fine-tune ``model_dir`` on ``train_ex`` (examples: (text, [text_pair,] label) tuples) with transformers'
    Trainer (trainer.DistillationTrainer) and score it on ``dev_ex``, run as ``opts`` says.

    teacher_outputs: (len(train_ex), C) outputs of a teacher fine-tuned on the task → task distillation.
    heldout_ex: a slice of the train split kept out of ``train_ex``; the model is scored on it at the end of
    every epoch and the best epoch's weights (task's first metric) are the ones scored on dev — epochs are
    chosen on train data, never on dev. Returns (result, model, tokenizer); result = {metric: value in %,
    train_examples, epochs, steps, lr, seed, train_s, best_epoch, heldout (per-epoch scores)}.
    """
    opts = opts or FitOptions()
    set_seed(opts.seed)                                   # the new head's weights
    model, tokenizer = _load_classifier(model_dir, spec, torch.device(opts.device))
    label = float if spec.is_regression else int
    feats = tokenize_examples(tokenizer, train_ex, cfg.max_seq_len)
    kwargs = {"model": model, "processing_class": tokenizer, "data_collator": DataCollatorWithPadding(tokenizer),
              "train_dataset": _rows(feats, [label(e[2]) for e in train_ex], teacher_outputs)}
    metric = None
    if heldout_ex:
        metric = spec.metrics[0]
        held = tokenize_examples(tokenizer, heldout_ex, cfg.max_seq_len)
        kwargs |= {"eval_dataset": _rows(held, [label(e[2]) for e in heldout_ex]), "compute_metrics":
                   lambda p: task_metrics(spec.metrics, to_predictions(spec, _logits(p.predictions)), p.label_ids)}
    t0 = time.perf_counter()
    trainer = fit(kwargs, cfg, opts, f"{spec.name} {opts.name or Path(model_dir).name} seed {opts.seed}", metric)
    train_s = time.perf_counter() - t0
    model, state = trainer.model, trainer.state
    result = {**score(model, tokenizer, spec, dev_ex, cfg.max_seq_len, opts.bf16), "train_examples": len(train_ex),
              "dev_examples": len(dev_ex), "epochs": cfg.epochs, "steps": state.max_steps, "lr": cfg.lr,
              "seed": opts.seed, "train_s": round(train_s, 1), "task_distillation": teacher_outputs is not None}
    if metric:
        evals = [e for e in state.log_history if f"eval_{metric}" in e]
        curve = [round(e[f"eval_{metric}"], 3) for e in evals]
        best = int(np.argmax([e[f"eval_{metric}"] for e in evals]))
        result |= {"best_epoch": round(evals[best]["epoch"], 2), "heldout": curve, "heldout_examples": len(heldout_ex)}
    return result, model, tokenizer


def _logits(predictions) -> np.ndarray:
    """The logits (N, C) of Trainer's predictions (a tuple when the model returns more than logits)."""
    return predictions[0] if isinstance(predictions, tuple) else predictions
