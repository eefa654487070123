"""Atomic writes: a reader (or a resumed run) sees the old file or the new one, never half of one, and a
write that fails (disk full, read-only file system) leaves no temporary file or folder behind."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path

import torch


@contextlib.contextmanager
def _cleanup_on_error(tmp: Path):
    try:
        yield
    except BaseException as e:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if isinstance(e, OSError) and not e.filename:
            e.filename = str(tmp)                # name the place for the one-line error
        code = re.search(r"os error (\d+)", str(e)) if not isinstance(e, OSError) else None
        if code:                                 # safetensors reports I/O errors as SafetensorError("... os error 28")
            raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(tmp)) from e
        raise


def save_torch(obj, path: Path) -> None:
    """torch.save to ``path.tmp`` then os.replace (atomic on POSIX)."""
    tmp = path.with_name(path.name + ".tmp")
    with _cleanup_on_error(tmp):
        with open(tmp, "wb") as f:             # a file object: a full disk raises OSError, not RuntimeError
            torch.save(obj, f)
        os.replace(tmp, path)


def write_json(obj, path: Path) -> None:
    """Write indented JSON atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with _cleanup_on_error(tmp):
        tmp.write_text(json.dumps(obj, indent=2, default=str))
        os.replace(tmp, path)


def shareable(folder: Path) -> None:
    """Give every file under ``folder`` the permissions a new file gets from the umask (0644 with the usual
    022): safetensors writes its weights 0600, which other users of a shared model folder cannot read."""
    mask = os.umask(0)
    os.umask(mask)
    for f in Path(folder).rglob("*"):
        if f.is_file():
            f.chmod(0o666 & ~mask)


def save_model_dir(model, tokenizer, path: Path) -> None:
    """``save_pretrained`` model + tokenizer into ``path`` via a sibling temp folder and a rename; files get
    the umask's permissions (``shareable``)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with _cleanup_on_error(tmp):
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        shareable(tmp)
    old = path.with_name(path.name + ".old")
    if path.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
