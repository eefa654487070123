"""torch.distributed helpers: one process per device under ``torchrun``, NCCL on GPUs, gloo on CPUs.

Launch (any command that trains, e.g. distill):
  torchrun --nproc_per_node 8 -m bertdistil distill --preset paper --out runs/paper ...
  torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 -m bertdistil distill ...
Outside torchrun (no WORLD_SIZE), everything runs as one process and these helpers are no-ops.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist


def init_from_env() -> tuple[int, int]:
    """Join the process group described by torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK,
    MASTER_ADDR/PORT) if WORLD_SIZE > 1; NCCL when CUDA is available, else gloo. Returns (rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return rank_world()


def rank_world() -> tuple[int, int]:
    """(rank, world size); (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_world()[0] == 0


def barrier() -> None:
    if rank_world()[1] > 1:
        dist.barrier()


def all_reduce_sum(values: list[float]) -> list[float]:
    """Element-wise sum of a list of floats over all ranks (float64; identity when not distributed)."""
    if rank_world()[1] == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return t.cpu().tolist()


def mask_seed(seed: int, epoch: int, global_batch: int) -> int:
    """Seed of the masking RNG for one batch, a function of its global position only, so the same
    batch gets the same mask whatever the world size or resume point."""
    return int(np.random.SeedSequence([seed, epoch, global_batch]).generate_state(1)[0])
