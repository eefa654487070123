"""The training loop shared by distillation, the MLM-only control and teacher MLM adaptation.

AdamW (β = (0.9, 0.98), eps 1e-6, no decay on bias/LayerNorm), linear warm-up then linear decay,
gradient clipping, gradient accumulation, bf16 autocast (CPU or CUDA) with fp32 master weights.
A checkpoint (model, optimizer, scheduler, RNG states, data position, token count) is written
atomically every ``checkpoint_every`` steps; ``resume=True`` continues exactly where it stopped.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from .checkpoint import save_model_dir, save_torch, write_json
from .config import LossConfig, OptimConfig
from .cpu_kernels import use_cpu_kernels
from .data import LengthGroupedBatches, TokenDataset, collate
from .distributed import all_reduce_sum, barrier, mask_seed, rank_world
from .masking import Masker
from .models import training_teacher
from .objective import StudentForward, compute_losses, weights_of


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


def optimizer_step(model: torch.nn.Module, optimizer, scheduler, max_grad_norm: float) -> None:
    """Clip the global gradient norm, step optimizer and learning-rate schedule, clear gradients."""
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def _read_log(path: Path, up_to_step: int) -> list[dict]:
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("step", 0) <= up_to_step]


def train(student, teacher, tokenizer, dataset: TokenDataset, masker: Masker, loss_cfg: LossConfig,
          optim_cfg: OptimConfig, out_dir: Path, *, seed: int, bf16: bool = True, resume: bool = True,
          eval_fn: Callable | None = None, desc: str = "distil", progress: bool = True,
          final_dir: Path | None = None, cpu_kernels: bool = True, bf16_teacher: bool = True) -> dict:
    """Train ``student`` for ``optim_cfg.max_steps`` optimizer steps (or ``epochs`` passes); save it to ``final_dir``
    (default ``out_dir/final``) as a Hugging Face directory with the tokenizer.

    ``teacher`` may be None when only alpha_mlm is non-zero. Writes ``out_dir/log.jsonl`` (one record
    per log step: step, loss, terms, lr, tokens_seen, tokens_per_s), TensorBoard events in
    ``out_dir/tb``, ``checkpoint.pt`` and ``summary.json``. ``cpu_kernels``: on the CPU, train with
    ``cpu_kernels.use_cpu_kernels`` (faster dropout and attention; the saved model is a stock one).
    ``bf16_teacher``: with bf16, the teacher runs as ``models.bf16_inference_copy`` (the caller's is
    untouched). Returns the summary dict {steps, tokens_seen, tokens_per_s, wall_s, final_loss, loss_terms, log}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out_dir / "checkpoint.pt", out_dir / "log.jsonl"
    rank, world = rank_world()
    main = rank == 0
    torch.manual_seed(seed + rank)
    student.train()
    if teacher is not None:
        teacher = training_teacher(teacher, bf16 and bf16_teacher)
    optimizer = make_optimizer(student, optim_cfg.lr, optim_cfg.weight_decay, optim_cfg.adam_betas,
                               optim_cfg.adam_epsilon)
    sampler = LengthGroupedBatches(dataset.lengths, optim_cfg.batch_size, seed, optim_cfg.group_by_size,
                                   rank=rank, world_size=world)
    accum = optim_cfg.gradient_accumulation_steps
    total = optim_cfg.max_steps
    if optim_cfg.epochs > 0:
        total = max(1, math.ceil(optim_cfg.epochs * len(sampler) / accum))
    scheduler = get_linear_schedule_with_warmup(optimizer, int(optim_cfg.warmup_prop * total), total)
    gen = torch.Generator()                 # reseeded per batch from its global position (mask_seed)
    step, tokens_seen, wall_before = 0, 0, 0.0
    if resume and ckpt_path.is_file():
        ck = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        student.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        sampler.load_state(ck["sampler"])
        if ck.get("world_size", 1) == world == 1:
            torch.set_rng_state(ck["torch_rng"])      # dropout stream: exact resume in one process
        else:
            torch.manual_seed(seed + rank + 7919 * ck["step"])
        step, tokens_seen, wall_before = ck["step"], ck["tokens_seen"], ck["wall_s"]
    log = _read_log(log_path, step) if step else []
    writer = None
    if main:
        log_path.write_text("".join(json.dumps(r) + "\n" for r in log))
        try:
            from torch.utils.tensorboard import SummaryWriter
            writer = SummaryWriter(str(out_dir / "tb"), purge_step=step + 1 if step else None)
        except ImportError:
            pass
    device = next(student.parameters()).device
    fwd = StudentForward(student)
    if world > 1:                           # DDP: gradients averaged over ranks in backward
        w = weights_of(loss_cfg)
        fwd = torch.nn.parallel.DistributedDataParallel(
            fwd, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=not ({"ce", "mlm"} & w.keys()))
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    pad_id = tokenizer.pad_token_id
    t0 = time.perf_counter()
    tokens_at_start, window_tokens, window_t = tokens_seen, 0, t0
    terms_sum: dict[str, float] = {}
    loss_sum, n_micro = 0.0, 0
    bar = tqdm(total=total, initial=step, desc=desc, unit="step", disable=not (progress and main), dynamic_ncols=True)
    with open(log_path, "a") if main else contextlib.nullcontext() as logf, \
            use_cpu_kernels(student, teacher, enabled=cpu_kernels):
        while step < total:
            step_tokens = 0
            for i in range(accum):
                ids, att = collate(dataset, sampler.next(), pad_id)
                gen.manual_seed(mask_seed(seed, sampler.epoch, sampler.global_index()))
                masked, labels = masker(ids, att, gen)
                masked, att, labels = masked.to(device), att.to(device), labels.to(device)
                sync = fwd.no_sync() if world > 1 and i < accum - 1 else contextlib.nullcontext()
                with sync:
                    with autocast():
                        loss, terms = compute_losses(fwd, teacher, masked, att, labels, loss_cfg)
                    (loss / accum).backward()
                step_tokens += int(att.sum())
                loss_sum += float(loss.detach())
                n_micro += 1
                for k, v in terms.items():
                    terms_sum[k] = terms_sum.get(k, 0.0) + v
            optimizer_step(student, optimizer, scheduler, optim_cfg.max_grad_norm)
            step_tokens = int(all_reduce_sum([step_tokens])[0])
            tokens_seen += step_tokens
            window_tokens += step_tokens
            step += 1
            bar.update(1)
            if step % optim_cfg.log_every == 0 or step == total:
                now = time.perf_counter()
                keys = sorted(terms_sum)
                sums = all_reduce_sum([loss_sum, n_micro, *[terms_sum[k] for k in keys]])
                loss_sum, n_micro, terms_sum = sums[0], sums[1], dict(zip(keys, sums[2:]))
                rec = {"step": step, "loss": loss_sum / n_micro,
                       "terms": {k: v / n_micro for k, v in terms_sum.items()},
                       "lr": scheduler.get_last_lr()[0], "tokens_seen": tokens_seen,
                       "tokens_per_s": window_tokens / max(now - window_t, 1e-9),
                       "wall_s": wall_before + now - t0}
                if main and eval_fn is not None and optim_cfg.eval_every and step % optim_cfg.eval_every == 0 \
                        and step < total:
                    rec["eval"] = eval_fn(student)
                if main:
                    logf.write(json.dumps(rec) + "\n")
                    logf.flush()
                log.append(rec)
                if writer is not None:
                    writer.add_scalar("loss/total", rec["loss"], step)
                    for k, v in rec["terms"].items():
                        writer.add_scalar(f"loss/{k}", v, step)
                    writer.add_scalar("lr", rec["lr"], step)
                    writer.add_scalar("tokens_per_s", rec["tokens_per_s"], step)
                    for k, v in rec.get("eval", {}).items():
                        writer.add_scalar(f"eval/{k}", v, step)
                bar.set_postfix(loss=f"{rec['loss']:.3f}", tok_s=f"{rec['tokens_per_s']:.0f}")
                terms_sum, loss_sum, n_micro = {}, 0.0, 0
                window_tokens, window_t = 0, now
            if step % optim_cfg.checkpoint_every == 0 and step < total:
                if main:                    # replicas are identical after the all-reduce: rank 0 saves
                    save_torch({"model": student.state_dict(), "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(), "sampler": sampler.state(),
                                "torch_rng": torch.get_rng_state(), "step": step, "world_size": world,
                                "tokens_seen": tokens_seen, "wall_s": wall_before + time.perf_counter() - t0},
                               ckpt_path)
                barrier()
    bar.close()
    if writer is not None:
        writer.close()
    wall = wall_before + time.perf_counter() - t0
    if not main:
        barrier()                           # wait for rank 0 to write the final model
        return json.loads((out_dir / "summary.json").read_text())
    save_model_dir(student, tokenizer, Path(final_dir) if final_dir else out_dir / "final")
    last = log[-1] if log else {"loss": float("nan"), "terms": {}}
    summary = {"steps": step, "tokens_seen": tokens_seen, "wall_s": wall,
               "tokens_per_s": (tokens_seen - tokens_at_start) / max(time.perf_counter() - t0, 1e-9),
               "final_loss": last["loss"], "loss_terms": last["terms"],
               "sequences_per_step": optim_cfg.batch_size * accum * world, "world_size": world}
    write_json({**summary, "log": log}, out_dir / "summary.json")
    ckpt_path.unlink(missing_ok=True)
    barrier()
    return {**summary, "log": log}
