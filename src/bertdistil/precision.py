"""Which floating-point precision training and inference run in.

``precision: auto`` picks, in this order:
  bf16  where the hardware computes bf16 natively — a CPU with AVX512-BF16 or AMX tiles (Intel Cooper Lake /
        Sapphire Rapids and later, AMD Zen 4 and later), or a CUDA GPU that supports bf16 (Ampere and later);
  fp16  on any other CUDA GPU (T4, V100, …): fp16 autocast with dynamic loss scaling (``torch.amp.GradScaler``:
        a step whose scaled gradients overflow is skipped and the scale lowered);
  fp32  everywhere else.
On a CPU without bf16 units PyTorch emulates bf16 (and fp16) through fp32 conversions, which makes a training
step one to two orders of magnitude slower than plain fp32, so those modes are used there only when asked for
(``precision: bf16`` / ``fp16``). Weights stay fp32 in every mode (mixed precision, Micikevicius et al. 2018);
with fp16, inference (evaluation, scoring) runs in fp32.
"""
from __future__ import annotations

import torch

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def native_cpu_bf16() -> bool:
    """True when this CPU has AVX512-BF16 or AMX tile instructions (PyTorch's own CPU feature probe)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def device_kind(device: str = "auto") -> str:
    """``cpu`` or ``cuda`` for a device setting (``auto`` → cuda when a GPU is visible)."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if str(device).startswith("cuda") else "cpu"


def native_bf16(device: str = "auto") -> bool:
    """True when ``device`` computes bf16 natively (see the module docstring)."""
    if device_kind(device) == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return native_cpu_bf16()


def resolve_precision(precision: str = "auto", device: str = "auto") -> str:
    """``bf16``, ``fp16`` or ``fp32`` for a ``precision`` setting on ``device``: ``auto`` → bf16 where native,
    else fp16 on a CUDA GPU, else fp32 (module docstring); an explicit choice is kept. ValueError for a name
    outside PRECISIONS."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    if native_bf16(device):
        return "bf16"
    return "fp16" if device_kind(device) == "cuda" and torch.cuda.is_available() else "fp32"


def emulated(precision: str, device: str = "auto") -> bool:
    """True when an explicit ``precision`` runs emulated (far slower than fp32) on ``device``: bf16 without
    native bf16, fp16 on a CPU."""
    return (precision == "bf16" and not native_bf16(device)) or (precision == "fp16" and device_kind(device) == "cpu")
