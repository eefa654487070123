"""``bertdistil bench-train``: distillation-step throughput (tokens/s), analytic FLOPs and MFU.

One step = teacher forward (inference mode) + student forward/backward + AdamW step, through the same
``objective.compute_losses`` as training, on batches of ``batch_size`` × ``seq_len`` real corpus tokens
(no padding, so tokens = B·L).

FLOPs per step (multiply-add = 2 FLOPs; matmuls only — embeddings, softmax, LayerNorm, GELU and the
optimizer are not counted, which is the usual convention for MFU):
  per layer and token, forward:  8·d² (Q, K, V, output projections) + 4·d·f (FFN) + 4·L·d (QKᵀ and A·V)
  vocabulary head per selected row, forward: 2·d² (transform) + 2·d·V (projection)
  step = B·L·n_t·layer + N·head  (teacher, forward only; its head only if alpha_ce > 0)
       + 3·(B·L·n_s·layer + N·head)  (student, forward + backward ≈ 3 × forward)
with d hidden size, f FFN size, V vocabulary, n_t/n_s layers, N rows through the head (MLM targets
when ``restrict_ce_to_mask`` or alpha_ce = 0, else all B·L tokens).
MFU = FLOPs per step / seconds per step / peak, with peak = best measured n×n×n ``torch.mm`` GFLOP/s on
the same threads, in bf16 and in fp32 (Chowdhery et al. 2022, PaLM, appendix B, uses the same definition).
"""
from __future__ import annotations

import contextlib
import time

import numpy as np
import torch

from .config import LossConfig, TrainBenchConfig
from .objective import compute_losses
from .train import make_optimizer


def peak_matmul_gflops(n: int = 2048, dtype: torch.dtype = torch.bfloat16, repeats: int = 5) -> float:
    """Best GFLOP/s (10^9 FLOP/s) of an n×n @ n×n torch.mm on the current threads (2·n³ FLOPs each)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def _dims(config) -> tuple[int, int, int, int]:
    d = getattr(config, "hidden_size", None) or config.dim
    f = getattr(config, "intermediate_size", None) or config.hidden_dim
    n = getattr(config, "num_hidden_layers", None) or config.n_layers
    return d, f, n, config.vocab_size


def step_flops(student_config, teacher_config, batch_size: int, seq_len: int, head_rows: int,
               teacher_head: bool) -> dict[str, float]:
    """Analytic matmul FLOPs of one distillation step (formula in the module doc)."""
    tokens = batch_size * seq_len

    def per_model(config) -> tuple[float, float]:
        d, f, n, v = _dims(config)
        return tokens * n * (8 * d * d + 4 * d * f + 4 * seq_len * d), head_rows * (2 * d * d + 2 * d * v)

    s_layers, s_head = per_model(student_config)
    t_layers, t_head = per_model(teacher_config)
    teacher = t_layers + (t_head if teacher_head else 0.0)
    student = 3 * (s_layers + s_head)
    return {"teacher": teacher, "student": student, "total": teacher + student,
            "vocab_projection_share": (3 * s_head + (t_head if teacher_head else 0.0)) / (teacher + student)}


def token_batches(dataset, batch_size: int, seq_len: int, n: int, seed: int = 0) -> list[torch.Tensor]:
    """``n`` batches (B, L) int64 of consecutive corpus tokens (sequences concatenated, no padding)."""
    rng = np.random.default_rng(seed)
    need = n * batch_size * seq_len
    order = rng.permutation(len(dataset))
    chunks, have = [], 0
    for i in order:
        s = dataset[int(i)]
        chunks.append(np.asarray(s, dtype=np.int64))
        have += len(s)
        if have >= need:
            break
    flat = np.concatenate(chunks)
    if len(flat) < need:
        flat = np.resize(flat, need)
    return [torch.from_numpy(b.copy()) for b in flat[:need].reshape(n, batch_size, seq_len)]


def bench_train(student, teacher, dataset, masker, loss_cfg: LossConfig, cfg: TrainBenchConfig,
                bf16: bool, peak_gflops: float) -> list[dict]:
    """Time ``cfg.steps`` distillation steps (after ``cfg.warmup_steps``) per sequence length.

    Returns one dict per seq_len: {seq_len, batch_size, bf16, step_s (median), tokens_per_s,
    flops_per_step, achieved_gflops, mfu (fraction of ``peak_gflops``), vocab_projection_share}.
    The student's weights are restored afterwards (the optimizer steps are discarded).
    """
    state = {k: v.clone() for k, v in student.state_dict().items()}
    student.train()
    teacher.eval()
    opt = make_optimizer(student, 1e-5)
    device = next(student.parameters()).device
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    gen = torch.Generator().manual_seed(0)
    teacher_head = bool(loss_cfg.alpha_ce)
    out = []
    for L in cfg.seq_lens:
        batches = token_batches(dataset, cfg.batch_size, L, cfg.warmup_steps + cfg.steps)
        times, rows = [], []
        for i, ids in enumerate(batches):
            att = torch.ones_like(ids)
            masked, labels = (x.to(device) for x in masker(ids, att, gen))
            att = att.to(device)
            t0 = time.perf_counter()
            with autocast():
                loss, _ = compute_losses(student, teacher, masked, att, labels, loss_cfg)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= cfg.warmup_steps:
                times.append(time.perf_counter() - t0)
                n_targets = int((labels != -100).sum())
                rows.append(n_targets if (loss_cfg.restrict_ce_to_mask or not loss_cfg.alpha_ce) else ids.numel())
        step_s = float(np.median(times))
        fl = step_flops(student.config, teacher.config, cfg.batch_size, L, int(np.mean(rows)), teacher_head)
        achieved = fl["total"] / step_s / 1e9
        out.append({"seq_len": L, "batch_size": cfg.batch_size, "bf16": bf16, "step_s": step_s,
                    "step_s_min": min(times), "step_s_max": max(times), "steps": len(times),
                    "tokens_per_s": cfg.batch_size * L / step_s, "flops_per_step": fl["total"],
                    "achieved_gflops": achieved, "mfu": achieved / peak_gflops, "peak_gflops": peak_gflops,
                    "vocab_projection_share": fl["vocab_projection_share"]})
    student.load_state_dict(state)
    return out
