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
MFU = FLOPs per step / seconds per step / peak (Chowdhery et al. 2022, PaLM, appendix B), at the median step
time, with peak = the best matmul rate measured in the same window on the same threads (``robust_peak``: n×n×n
``torch.mm`` of the step's precision timed between the steps, and the model's own GEMM shapes) — a measured
peak, not a datasheet one, so MFU never exceeds 100%. Beside it: the achieved GFLOP/s, the MFU ceiling (the
model's own GEMM shapes over the peak, ``gemm_ceiling``) and where a profiled step's time goes
(``time_shares``).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..config import LossConfig, OptimConfig, TrainBenchConfig
from ..console import native_stderr_silenced
from .cpu_kernels import use_cpu_kernels
from .loop import TrainOptions, setup, train_step


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


def _mm_gflops(a: torch.Tensor, b: torch.Tensor, repeats: int = 3) -> float:
    """Best GFLOP/s (10^9 FLOP/s) of ``repeats`` ``a @ b`` (2·m·k·n FLOPs each) on the current threads; the
    first product after a training step can be several times slower (caches, page faults), hence best-of."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / best / 1e9


def gemm_ceiling(config, tokens: int, a: torch.Tensor, b: torch.Tensor, repeats: int = 3) -> tuple[float, float]:
    """(GFLOP/s of the model's own layer projections, GFLOP/s of ``a @ b``) at ``tokens`` rows: ``F.linear``
    of (tokens, d) by the d→d, d→f and f→d weights, FLOP-weighted like a layer (4 × d→d + d→f + f→d), in
    the dtype of ``a``, timed alternately with ``a @ b``, best of ``repeats`` for both.

    The first over the peak is the MFU ceiling of the step's matmuls on this machine: what MFU would be if
    nothing else (attention, softmax, dropout, casts, optimizer) took time.
    """
    d, f, _, _ = _dims(config)
    shapes = ((d, d, 4), (d, f, 1), (f, d, 1))
    xs = [(torch.randn(tokens, i, dtype=a.dtype), torch.randn(o, i, dtype=a.dtype), n) for i, o, n in shapes]
    flops = sum(n * 2 * tokens * i * o for i, o, n in shapes)
    best_layer, best_mm = float("inf"), float("inf")
    for _ in range(repeats + 1):                      # the first round warms up
        t0 = time.perf_counter()
        for x, w, n in xs:
            for _ in range(n):
                torch.nn.functional.linear(x, w)
        t1 = time.perf_counter()
        torch.mm(a, b)
        t2 = time.perf_counter()
        best_layer, best_mm = min(best_layer, t1 - t0), min(best_mm, t2 - t1)
    return flops / best_layer / 1e9, 2 * a.shape[0] * a.shape[1] * b.shape[1] / best_mm / 1e9


def robust_peak(mm_gflops: list[float], gemm_gflops: float, step_gflops: list[float]) -> float:
    """The peak MFU is measured against (GFLOP/s): the best matmul rate seen in the benchmark's window — the
    ``n``³ products timed before every step and after the last, the model's own GEMM shapes — and never below
    a step's achieved rate (a step that ran faster than every product timed shows the products were slowed,
    not that the step beat the hardware). So MFU ≤ 1 by construction; one slow matmul timing cannot lift it
    above."""
    return max([*mm_gflops, gemm_gflops, *step_gflops])


# Profiler op name fragments → where the step's time goes (self CPU time of each aten op).
CATEGORIES = (("matmul", ("aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm")),
              ("attention kernel", ("scaled_dot_product",)),
              ("dropout RNG", ("bernoulli", "native_dropout", "aten::random_")),
              ("dtype casts / copies", ("aten::copy_", "aten::_to_copy", "aten::clone")),
              ("softmax / losses", ("softmax", "aten::exp", "kl_div", "nll_loss", "cross_entropy")),
              ("optimizer", ("adam", "_foreach_", "addcdiv", "lerp", "aten::sqrt")))


def time_shares(step: Callable[[], None]) -> dict[str, float]:
    """Run ``step`` once under ``torch.profiler`` and return {category: share of self CPU time} over
    ``CATEGORIES`` plus "other" (elementwise ops, LayerNorm, GELU, indexing, Python/dispatch overhead)."""
    from torch.profiler import ProfilerActivity, profile
    with native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU]) as prof:   # its start/stop lines
        step()
    totals = {name: 0.0 for name, _ in CATEGORIES} | {"other": 0.0}
    for ev in prof.key_averages():
        cat = next((name for name, frags in CATEGORIES if any(f in ev.key for f in frags)), "other")
        totals[cat] += ev.self_cpu_time_total
    whole = sum(totals.values()) or 1.0
    return {k: v / whole for k, v in totals.items()}


MAX_EXTRA_WARMUP = 6        # warm-up steps beyond cfg.warmup_steps while memory is still being faulted in
FAULTS_SETTLED = 10_000     # minor page faults (4 KiB each, 40 MB) below which a step counts as settled


def _minor_faults() -> int:
    try:
        import resource
    except ImportError:     # not a Unix: no fault counter, the fixed warm-up only
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _warm_up(step: Callable, batches, min_steps: int) -> int:
    """Run at least ``min_steps`` untimed steps, then more (up to MAX_EXTRA_WARMUP) while the last one still
    page-faulted fresh memory in (≥ FAULTS_SETTLED minor faults): at 512 tokens the heap grows for three
    steps (~2 GB each) before every later step reuses it. Returns the number of warm-up steps run."""
    done = 0
    while True:
        before = _minor_faults()
        step(next(batches))
        done += 1
        if done >= min_steps and (_minor_faults() - before < FAULTS_SETTLED or done >= min_steps + MAX_EXTRA_WARMUP):
            return done


def _row(cfg: TrainBenchConfig, L: int, times: list[float], rows: list[int], peaks: list[float],
         peak_gflops: float | None, student, teacher, teacher_head: bool, a, b, **how) -> dict:
    """One ``bench_train`` result row from a sequence length's step times and interleaved matmul rates."""
    step_s = float(np.median(times))
    fl = step_flops(student.config, teacher.config, cfg.batch_size, L, int(np.mean(rows)), teacher_head)
    rates = [fl["total"] / t / 1e9 for t in times]
    gemm, mm = gemm_ceiling(student.config, cfg.batch_size * L, a, b)
    peak = peak_gflops if peak_gflops is not None else robust_peak([*peaks, mm], gemm, rates)
    achieved = fl["total"] / step_s / 1e9
    return {"seq_len": L, "batch_size": cfg.batch_size, **how, "step_s": step_s, "step_s_min": min(times),
            "step_s_max": max(times), "steps": len(times), "tokens_per_s": cfg.batch_size * L / step_s,
            "flops_per_step": fl["total"], "achieved_gflops": achieved, "mfu": achieved / peak,
            "mfu_range": [min(rates) / peak, max(rates) / peak], "peak_gflops": peak,
            "peak_gflops_range": [min(peaks), max(peaks)], "peak_fixed": peak_gflops is not None,
            "gemm_ceiling_gflops": gemm, "mfu_ceiling": gemm / peak,
            "vocab_projection_share": fl["vocab_projection_share"]}


@dataclass(frozen=True)
class StepSetup:
    """The distillation step that is timed: its loss weights, bf16 autocast (else fp32), ``cpu_kernels``
    (the step under ``cpu_kernels.use_cpu_kernels``) and ``bf16_teacher`` (with bf16: the teacher as
    ``models.bf16_inference_copy``), each as training runs it; the defaults are stock PyTorch ops in fp32."""
    loss: LossConfig
    bf16: bool = False
    cpu_kernels: bool = False
    bf16_teacher: bool = False


def bench_train(student, teacher, dataset, masker, step_setup: StepSetup, cfg: TrainBenchConfig, *,
                peak_gflops: float | None = None, profile: bool = True) -> list[dict]:
    """Time ``cfg.steps`` distillation steps per sequence length, after ``_warm_up`` (≥ ``cfg.warmup_steps``).

    The peak is measured in the same window (``robust_peak``): the best of three ``cfg.matmul_size``³
    ``torch.mm`` of the step's precision right before every timed step and after the last, and the model's own
    GEMM shapes (``gemm_ceiling``); pass ``peak_gflops`` to use a fixed one.
    ``step_setup`` (StepSetup) says which step: loss, precision, kernels, teacher copy. ``profile``: also profile
    one more step for ``time_shares``.
    Returns one dict per seq_len: {seq_len, batch_size, bf16, cpu_kernels, warmup_steps, step_s (median),
    tokens_per_s, flops_per_step, achieved_gflops (GFLOP/s at the median step time), peak_gflops, mfu
    (achieved / peak, ≤ 1 unless ``peak_gflops`` is fixed), mfu_range (fastest and slowest step over the
    peak), peak_gflops_range (the n³ timings), gemm_ceiling_gflops and mfu_ceiling (the model's GEMMs alone
    over the peak), time_shares (profiled step, see ``time_shares``), vocab_projection_share}. The student's
    weights are restored afterwards (optimizer steps discarded).
    """
    state = {k: v.clone() for k, v in student.state_dict().items()}
    optim = OptimConfig(lr=1e-5, batch_size=cfg.batch_size, gradient_accumulation_steps=1, max_steps=10**9,
                        warmup_prop=0.0)
    loss_cfg, bf16, cpu_kernels = step_setup.loss, step_setup.bf16, step_setup.cpu_kernels
    bf16_teacher = step_setup.bf16_teacher
    opts = TrainOptions(loss_cfg, optim, bf16=bf16, bf16_teacher=bf16_teacher)
    run = setup(student, teacher, 0, dataset, masker, opts)
    device = run.device
    dtype = torch.bfloat16 if bf16 else torch.float32
    teacher_head = bool(loss_cfg.alpha_ce)
    a, b = (torch.randn(cfg.matmul_size, cfg.matmul_size, dtype=dtype) for _ in range(2))
    torch.mm(a, b)

    def step(ids: torch.Tensor) -> int:
        """train.train_step on one full-length batch; returns the rows of the vocabulary projection."""
        run.next_batch = lambda: (ids, torch.ones_like(ids), 0)
        stats = train_step(run)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return stats["targets"] if (loss_cfg.restrict_ce_to_mask or not loss_cfg.alpha_ce) else ids.numel()

    out = []
    with use_cpu_kernels(run.student, run.teacher, enabled=cpu_kernels):
        for L in cfg.seq_lens:
            n = cfg.warmup_steps + MAX_EXTRA_WARMUP + cfg.steps + 1      # the last one is profiled
            batches = iter(token_batches(dataset, cfg.batch_size, L, n))
            warmup = _warm_up(step, batches, cfg.warmup_steps)
            times, rows, peaks = [], [], []
            for _ in range(cfg.steps):
                ids = next(batches)
                peaks.append(_mm_gflops(a, b))
                t0 = time.perf_counter()
                rows.append(step(ids))
                times.append(time.perf_counter() - t0)
            peaks.append(_mm_gflops(a, b))                           # and once after the last step
            last = next(batches)
            shares = time_shares(lambda batch=last: step(batch)) if profile else {}
            out.append(_row(cfg, L, times, rows, peaks, peak_gflops, student, teacher, teacher_head, a, b,
                            bf16=bf16, cpu_kernels=cpu_kernels, bf16_teacher=bf16 and bf16_teacher,
                            warmup_steps=warmup, time_shares=shares))
    student.load_state_dict(state)
    return out
