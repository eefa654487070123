"""Corpus sources beyond text files: parquet files and local Hugging Face ``datasets`` directories.

Both are read with pyarrow record batch by record batch (memory independent of the corpus size):
  * ``*.parquet``: the ``text`` column (or the only string column);
  * a directory written by ``datasets.Dataset.save_to_disk`` (``state.json`` + ``data-*.arrow`` Arrow
    stream files; a ``DatasetDict`` directory uses its ``train`` split), same column rule.
Each row is one document. pyarrow is an optional dependency: ``pip install 'bertdistil[arrow]'``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from .errors import BertdistilError


def is_arrow_source(path: Path) -> bool:
    """True for a parquet file or a ``save_to_disk`` directory (Dataset or DatasetDict)."""
    path = Path(path)
    if path.is_dir():
        return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()
    return path.suffix == ".parquet"


def _pyarrow():
    try:
        import pyarrow
        return pyarrow
    except ImportError:
        raise BertdistilError("reading parquet or datasets directories needs pyarrow: "
                              "pip install 'bertdistil[arrow]' (or pip install pyarrow)") from None


def _text_column(schema, where: Path) -> str:
    pa = _pyarrow()
    if "text" in schema.names:
        return "text"
    strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    if len(strings) != 1:
        raise BertdistilError(f"{where}: no 'text' column and {len(strings)} string columns ({', '.join(strings)}): "
                              "rename the text column to 'text'")
    return strings[0]


def _arrow_files(folder: Path) -> list[Path]:
    if (folder / "dataset_dict.json").is_file():
        splits = json.loads((folder / "dataset_dict.json").read_text()).get("splits", [])
        if "train" not in splits:
            raise BertdistilError(f"{folder}: a DatasetDict without a 'train' split ({splits}): pass the split folder")
        folder = folder / "train"
    state = json.loads((folder / "state.json").read_text())
    files = [folder / f["filename"] for f in state.get("_data_files", [])]
    if not files or not all(f.is_file() for f in files):
        raise BertdistilError(f"{folder}: state.json lists missing .arrow files: re-save it with save_to_disk")
    return files


def iter_arrow_documents(path: Path) -> Iterator[str]:
    """Yield the non-empty text of every row of a parquet file or datasets directory, one record batch
    in memory at a time. Raises BertdistilError without pyarrow, for a missing text column or bad files."""
    pa = _pyarrow()
    path = Path(path)
    try:
        if path.is_dir():
            for f in _arrow_files(path):
                with pa.memory_map(str(f)) as src:
                    reader = pa.ipc.open_stream(src)
                    col = _text_column(reader.schema, f)
                    for batch in reader:
                        yield from (t for t in batch.column(col).to_pylist() if t and t.strip())
        else:
            import pyarrow.parquet as pq
            pf = pq.ParquetFile(str(path))
            col = _text_column(pf.schema_arrow, path)
            for batch in pf.iter_batches(columns=[col], batch_size=4096):
                yield from (t for t in batch.column(0).to_pylist() if t and t.strip())
    except (pa.ArrowException, OSError, json.JSONDecodeError, KeyError) as e:
        raise BertdistilError(f"{path}: cannot read as parquet / datasets directory ({e})") from None
