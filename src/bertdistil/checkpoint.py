"""Atomic writes: a reader (or a resumed run) sees the old file or the new one, never half of one."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch


def save_torch(obj, path: Path) -> None:
    """torch.save to ``path.tmp`` then os.replace (atomic on POSIX)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def write_json(obj, path: Path) -> None:
    """Write indented JSON atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


def save_model_dir(model, tokenizer, path: Path) -> None:
    """``save_pretrained`` model + tokenizer into ``path`` via a sibling temp folder and a rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
    old = path.with_name(path.name + ".old")
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
