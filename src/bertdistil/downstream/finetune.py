"""Fine-tuning on a sentence(-pair) classification or regression task, with optional task
distillation ("DistilBERT (D)": Hinton et al. 2015 soft targets from a teacher fine-tuned on the task).

Loss without a teacher: CE(y) (classification) or MSE(y) (regression). With teacher outputs z_t:
  classification  α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)) + (1 − α)·CE(y)
  regression      α·MSE(z_s, z_t) + (1 − α)·MSE(z_s, y)
AdamW, linear warm-up/decay, dynamic padding with length-grouped batches, bf16 autocast.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

from ..config import FinetuneConfig
from ..data.corpus import LengthGroupedBatches
from ..data.tasks import TaskSpec
from ..evaluation.metrics import task_metrics
from ..models.loading import load_tokenizer
from ..training.losses import task_classification_loss, task_regression_loss
from ..training.optim import make_optimizer, optimizer_step


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


@dataclass(frozen=True)
class FitOptions:
    """How one fine-tuning run executes: its seed (weights of the head, batch order, dropout), bf16 autocast,
    a progress bar, the device, and ``name``, which labels the progress bar (default: the model folder's)."""
    seed: int = 1
    bf16: bool = True
    progress: bool = True
    device: torch.device | str = "cpu"
    name: str | None = None


def train_classifier(model_dir: str | Path, spec: TaskSpec, train_ex: list[tuple], dev_ex: list[tuple],
                     cfg: FinetuneConfig, opts: FitOptions | None = None, teacher_outputs: np.ndarray | None = None,
                     heldout_ex: list[tuple] | None = None) -> tuple[dict, object, object]:
    """Fine-tune ``model_dir`` on ``train_ex`` (examples: (text, [text_pair,] label) tuples) and score it on
    ``dev_ex``, run as ``opts`` says.

    teacher_outputs: (len(train_ex), C) outputs of a teacher fine-tuned on the task → task distillation.
    heldout_ex: a slice of the train split kept out of ``train_ex``; the model is scored on it at the end of
    every epoch and the best epoch's weights (task's first metric) are the ones scored on dev — epochs are
    chosen on train data, never on dev. Returns (result, model, tokenizer); result = {metric: value in %,
    train_examples, epochs, steps, lr, seed, train_s, best_epoch, heldout (per-epoch scores)}.
    """
    opts = opts or FitOptions()
    seed, bf16, progress, device, name = opts.seed, opts.bf16, opts.progress, opts.device, opts.name
    torch.manual_seed(seed)
    device = torch.device(device)
    model, tokenizer = _load_classifier(model_dir, spec, device)
    feats = tokenize_examples(tokenizer, train_ex, cfg.max_seq_len)
    labels = torch.tensor([e[2] for e in train_ex], dtype=torch.float32 if spec.is_regression else torch.long)
    t_out = torch.from_numpy(teacher_outputs) if teacher_outputs is not None else None
    sampler = LengthGroupedBatches(np.array([len(f["input_ids"]) for f in feats]), cfg.batch_size, seed,
                                   group_batches=16)
    per_epoch = len(sampler)
    total = max(1, math.ceil(cfg.epochs * per_epoch))
    ends = sorted({min(total, per_epoch * k) for k in range(1, math.ceil(total / per_epoch) + 1)})
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay, cfg.adam_betas, cfg.adam_epsilon)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_prop * total), total)
    held = None if not heldout_ex else (tokenize_examples(tokenizer, heldout_ex, cfg.max_seq_len),
                                        np.array([e[2] for e in heldout_ex]))
    t0, curve, best = time.perf_counter(), [], None
    desc = f"{spec.name} {name or Path(model_dir).name} seed {seed}"
    for step in tqdm(range(1, total + 1), desc=desc, leave=False, disable=not progress):
        model.train()
        idx = sampler.next()
        batch = {k: v.to(device) for k, v in _batch(tokenizer, feats, idx).items()}
        with _autocast(bf16, device):
            z = model(**batch).logits
        loss = _task_loss(spec, cfg, z, labels[idx].to(device), t_out[idx].to(device) if t_out is not None else None)
        loss.backward()
        optimizer_step(model, optimizer, scheduler, max_grad_norm=cfg.max_grad_norm)
        if held and step in ends:                  # the held-out slice, encoded once above
            curve.append(round(_metrics_of(model, tokenizer, spec, *held, bf16)[spec.metrics[0]], 3))
            if best is None or curve[-1] > curve[best]:
                best, state = len(curve) - 1, {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best is not None:
        model.load_state_dict(state)
    train_s = time.perf_counter() - t0
    result = {**score(model, tokenizer, spec, dev_ex, cfg.max_seq_len, bf16), "train_examples": len(train_ex),
              "dev_examples": len(dev_ex), "epochs": cfg.epochs, "steps": total, "lr": cfg.lr, "seed": seed,
              "train_s": round(train_s, 1), "task_distillation": t_out is not None}
    if best is not None:
        result |= {"best_epoch": round(ends[best] / per_epoch, 2), "heldout": curve,
                   "heldout_examples": len(heldout_ex)}
    return result, model, tokenizer


def _task_loss(spec: TaskSpec, cfg: FinetuneConfig, z: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None):
    """Task loss (with task distillation when teacher outputs ``t`` are given): z, t (B, C); y (B,)."""
    if spec.is_regression:
        return task_regression_loss(z[:, 0], y, t[:, 0] if t is not None else None, cfg.task_alpha)
    return task_classification_loss(z, y, t, cfg.task_alpha, cfg.task_temperature)
