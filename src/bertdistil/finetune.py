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
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

from .config import FinetuneConfig
from .data import LengthGroupedBatches
from .losses import task_classification_loss, task_regression_loss
from .metrics import task_metrics
from .models import load_tokenizer
from .optim import make_optimizer, optimizer_step
from .tasks import TaskSpec


def encode(tokenizer, examples: list[tuple], max_len: int) -> list[dict]:
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


def finetune(model_dir: str | Path, spec: TaskSpec, train_ex: list[tuple], dev_ex: list[tuple], cfg: FinetuneConfig,
             seed: int, bf16: bool = True, teacher_outputs: np.ndarray | None = None, progress: bool = True,
             device: torch.device | str = "cpu", name: str | None = None) -> tuple[dict, object, object]:
    """Fine-tune ``model_dir`` on ``train_ex`` and score it on ``dev_ex``; ``name`` labels the progress bar
    (default: the directory's name).

    teacher_outputs: (len(train_ex), C) outputs of a teacher fine-tuned on the task → task distillation.
    Returns (result, model, tokenizer); result = {metric: value in %, train_examples, epochs, lr,
    seed, train_s}.
    """
    torch.manual_seed(seed)
    device = torch.device(device)
    tokenizer = load_tokenizer(model_dir)
    kwargs = {"num_labels": spec.num_labels}
    if spec.is_regression:
        kwargs["problem_type"] = "regression"
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), **kwargs).to(device)
    feats = encode(tokenizer, train_ex, cfg.max_seq_len)
    labels = torch.tensor([e[2] for e in train_ex], dtype=torch.float32 if spec.is_regression else torch.long)
    t_out = torch.from_numpy(teacher_outputs) if teacher_outputs is not None else None
    lengths = np.array([len(f["input_ids"]) for f in feats])
    sampler = LengthGroupedBatches(lengths, cfg.batch_size, seed, group_batches=16)
    total = max(1, math.ceil(cfg.epochs * len(sampler)))
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay, cfg.adam_betas, cfg.adam_epsilon)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_prop * total), total)
    model.train()
    t0 = time.perf_counter()
    desc = f"{spec.name} {name or Path(model_dir).name} seed {seed}"
    for _ in tqdm(range(total), desc=desc, leave=False, disable=not progress):
        idx = sampler.next()
        batch = {k: v.to(device) for k, v in _batch(tokenizer, feats, idx).items()}
        y = labels[idx].to(device)
        with _autocast(bf16, device):
            z = model(**batch).logits
        t = t_out[idx].to(device) if t_out is not None else None
        if spec.is_regression:
            loss = task_regression_loss(z[:, 0], y, t[:, 0] if t is not None else None, cfg.task_alpha)
        else:
            loss = task_classification_loss(z, y, t, cfg.task_alpha, cfg.task_temperature)
        loss.backward()
        optimizer_step(model, optimizer, scheduler, max_grad_norm=cfg.max_grad_norm)
    train_s = time.perf_counter() - t0
    dev_feats = encode(tokenizer, dev_ex, cfg.max_seq_len)
    preds = to_predictions(spec, predict_outputs(model, tokenizer, dev_feats, bf16=bf16))
    gold = np.array([e[2] for e in dev_ex])
    result = {**task_metrics(spec.metrics, preds, gold), "train_examples": len(train_ex), "dev_examples": len(dev_ex),
              "epochs": cfg.epochs, "steps": total, "lr": cfg.lr, "seed": seed, "train_s": round(train_s, 1),
              "task_distillation": t_out is not None}
    return result, model, tokenizer

