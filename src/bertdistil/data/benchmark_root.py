"""The benchmark data root: where GLUE, IMDb, SQuAD, WikiText-2 and the SentEval sets are read from, in which layouts,
and which files (with sha256) a run used.

The root is ``--data-dir DIR`` (``Config.data_dir``), else ``$BERTDISTIL_DATA``. There is no default:
without a root the stages that need benchmark data are skipped (``skipped_notice``) and masked-LM
evaluation uses the held-out split of the pre-training corpus. Nothing is ever downloaded.

Layouts inside the root; for each split the first folder and name that exist win:
  glue/<TASK>/{train,dev,test}.tsv[.gz]               GLUE's download_glue_data.py layout (TASK: SST-2, STS-B…)
  glue/<config>/{train,validation,test}-*.parquet     the hub's nyu-mll/glue files (config: sst2, stsb…)
  glue/<TASK or config>/<split>/                      a DatasetDict.save_to_disk folder (its split folders)
  imdb/{train,test}-*.jsonl.gz                        aclImdb as JSON lines (text, label)
  imdb/[plain_text/]{train,test}-*.parquet | <split>/ stanfordnlp/imdb (parquet or save_to_disk)
  squad/dev-v1.1.json[.gz]                            the official SQuAD v1.1 dev file
  squad/[plain_text/]validation-*.parquet | <split>/  rajpurkar/squad (parquet or save_to_disk)
  wikitext/wikitext-2-raw/wiki.valid.raw[.gz], or wikitext/wiki.valid.raw[.gz]
  senteval/STS/, SICK/, MR/, CR/, SUBJ/, MPQA/, TREC/   SentEval's data/downstream layout (data.senteval)
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import BertdistilError

ENV = "BERTDISTIL_DATA"
LAYOUT_HINT = "glue/<TASK>/, imdb/, squad/, wikitext/, senteval/ (README: Benchmark data)"


def resolve_data_root(configured: str | Path | None = None) -> Path | None:
    """``configured`` (``--data-dir``), else ``$BERTDISTIL_DATA`` (empty = unset), else None.

    Raises BertdistilError when the named folder does not exist."""
    value = configured or os.environ.get(ENV) or None
    if value is None:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        source = "--data-dir" if configured else f"${ENV}"
        raise BertdistilError(f"benchmark data root {root} ({source}) is not a folder: pass a folder laid out as "
                              f"{LAYOUT_HINT}")
    return root


def find_split(folders: list[Path], names: tuple[str, ...]) -> list[Path]:
    """The files of one split: the first of ``<name>.tsv[.gz]``, ``<name>.jsonl[.gz]``, shards
    ``<name>-*.jsonl.gz`` / ``<name>-*.parquet``, or a save_to_disk split folder ``<name>/``, looked up in
    each folder in order (names in order within a folder). [] when none exists."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for name in names:
            for suffix in (".tsv", ".tsv.gz", ".jsonl", ".jsonl.gz"):
                if (folder / f"{name}{suffix}").is_file():
                    return [folder / f"{name}{suffix}"]
            shards = sorted(folder.glob(f"{name}-*.jsonl.gz")) or sorted(folder.glob(f"{name}-*.parquet"))
            if shards:
                return shards
            if (folder / name / "state.json").is_file():
                return [folder / name]
    return []


def task_files(root: Path | None, folders: list[str], splits: dict[str, tuple[str, ...]]) -> dict[str, list[Path]]:
    """{split: files} for the splits found under ``root/<folder>`` ({} without a root)."""
    if root is None:
        return {}
    found = {split: find_split([root / f for f in folders], names) for split, names in splits.items()}
    return {split: files for split, files in found.items() if files}


def squad_files(root: Path | None) -> list[Path]:
    """SQuAD v1.1 dev: the official JSON (plain or .gz), else hub parquet shards or a save_to_disk split
    folder; [] if absent."""
    if root is None:
        return []
    for name in ("dev-v1.1.json", "dev-v1.1.json.gz"):
        if (root / "squad" / name).is_file():
            return [root / "squad" / name]
    return find_split([root / "squad" / "plain_text", root / "squad"], ("validation",))


def wikitext_valid(root: Path | None) -> Path | None:
    """WikiText-2 (raw) valid under ``root/wikitext``, or None."""
    if root is None:
        return None
    for rel in ("wikitext-2-raw/wiki.valid.raw", "wikitext-2-raw/wiki.valid.raw.gz", "wiki.valid.raw",
                "wiki.valid.raw.gz"):
        if (root / "wikitext" / rel).is_file():
            return root / "wikitext" / rel
    return None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(root: Path | None, paths: list[Path]) -> dict:
    """{"root": str | None, "files": {path relative to the root: {"sha256", "bytes"}}} for the files
    (and every file inside the folders) in ``paths``, in sorted order."""
    files: set[Path] = set()
    for p in map(Path, paths):
        files.update(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else files.add(p)
    out = {}
    for f in sorted(files):
        try:
            rel = str(f.resolve().relative_to(root.resolve())) if root else str(f)
        except ValueError:
            rel = str(f)
        out[rel] = {"sha256": sha256_file(f), "bytes": f.stat().st_size}
    return {"root": str(root) if root else None, "files": out}


def skipped_notice(skipped: list[str]) -> str:
    """The one line ``reproduce`` prints when no data root is set."""
    what = ", ".join(skipped) if skipped else "nothing"
    return (f"bertdistil: no benchmark data root (--data-dir / ${ENV}): skipped {what}; masked-LM evaluation and the "
            f"speed benchmark use the corpus's held-out split. To run them: --data-dir DIR with {LAYOUT_HINT}")
