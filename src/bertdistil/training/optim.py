"""AdamW and one optimizer step of the distillation loop (training/loop.py), with optional fp16 loss scaling."""
from __future__ import annotations

import math

import torch


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.98),
                   eps: float = 1e-6) -> torch.optim.Optimizer:
    """AdamW with weight decay on every weight but biases and LayerNorm parameters; PyTorch's fused kernel
    (one pass over each parameter instead of a dozen elementwise ops) when all parameters are fp32 on CPU/CUDA."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if ("bias" in name or "LayerNorm" in name or "layer_norm" in name) else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    params = decay + no_decay
    fused = bool(params) and all(p.dtype == torch.float32 and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps, fused=fused or None)


def optimizer_step(model: torch.nn.Module, optimizer, scheduler, max_grad_norm: float,
                   scaler: torch.amp.GradScaler | None = None) -> float:
    """Clip the global gradient norm, step optimizer and learning-rate schedule, clear gradients. A non-finite
    norm (NaN/inf gradients) skips the update and the schedule step. With an fp16 loss ``scaler``
    (``torch.amp.GradScaler``) the gradients are unscaled before clipping and the scale is updated after
    every step (lowered after a skipped one). Returns the norm before clipping (unscaled)."""
    if scaler is not None:
        scaler.unscale_(optimizer)
    norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm))
    if math.isfinite(norm):
        if scaler is not None:
            scaler.step(optimizer)
        else:
            optimizer.step()
        scheduler.step()
    if scaler is not None:
        scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return norm
