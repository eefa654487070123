"""Task files read row by row: GLUE-style TSV, CSV and JSON lines (plain or .gz), and Hugging Face
``datasets`` sources — hub parquet files and ``save_to_disk`` folders — read with the datasets library.

Every reader yields ``(where, row)``: ``where`` names the place for error messages (``file:line`` for
text, ``file row N`` for datasets sources) and ``row`` is {column: value} (column indices for a text
file without header). In datasets sources a ``ClassLabel`` column yields its label *name* (``None``
for the hub's -1 = no label, as in GLUE test splits), so callers map names, never raw indices whose
order could differ between files.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import BertdistilError
from .documents import dataset_splits, is_arrow_source
from .shipped import cache_dir


def open_text(path: Path) -> io.StringIO:
    """The decoded text of a plain or gzip file. BertdistilError if missing or not UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise BertdistilError(f"{path} not found: pass an existing TSV/CSV/JSONL/.parquet file or datasets folder")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        return io.StringIO(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise BertdistilError(f"{path}: not UTF-8 text (byte {e.start}): convert it with "
                              "iconv -f ENCODING -t UTF-8, or pass a .parquet file") from None


def text_rows(path: Path, header: bool) -> Iterator[tuple[str, dict]]:
    """Rows of a TSV / CSV / JSON-lines file (chosen by extension, ``.gz`` allowed).

    TSV is read without quoting (GLUE files contain bare quotes), CSV with standard quoting. Raises
    BertdistilError naming ``file:line`` for invalid JSON or a row whose column count differs from the header.
    """
    name = str(path).removesuffix(".gz")
    f = open_text(path)
    if name.endswith((".jsonl", ".json")):
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield f"{path}:{i}", json.loads(line)
                except json.JSONDecodeError as e:
                    raise BertdistilError(f"{path}:{i}: invalid JSON ({e.msg}): fix or remove the line") from None
        return
    delim = "," if name.endswith(".csv") else "\t"
    reader = csv.reader(f, delimiter=delim, quoting=csv.QUOTE_MINIMAL if delim == "," else csv.QUOTE_NONE)
    cols = None
    for i, row in enumerate(reader, 1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if header and cols is None:
            cols = [c.strip() for c in row]
            continue
        if cols is not None and len(row) != len(cols):
            raise BertdistilError(f"{path}:{i}: expected {len(cols)} {'tab' if delim == chr(9) else 'comma'}-separated "
                                  f"columns ({', '.join(cols)}), found {len(row)}: fix or remove the row")
        yield f"{path}:{i}", dict(zip(cols, row)) if cols else dict(enumerate(row))


def _datasets():
    import datasets
    datasets.utils.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    return datasets


def load_dataset_source(path: Path):
    """A ``datasets.Dataset`` from a parquet file or a Dataset ``save_to_disk`` folder.

    Parquet files keep the ``ClassLabel`` features the hub stores in their schema. Raises BertdistilError
    for a DatasetDict folder (pass one of its split folders) or an unreadable source.
    """
    ds_lib, path = _datasets(), Path(path)
    if dataset_splits(path):
        raise BertdistilError(f"{path} holds the splits {dataset_splits(path)}: pass one of them, "
                              f"e.g. {path / 'train'}")
    try:
        if path.is_dir():
            return ds_lib.load_from_disk(str(path))
        return ds_lib.Dataset.from_parquet(str(path), cache_dir=str(cache_dir() / "datasets"))
    except Exception as e:              # datasets/pyarrow raise many types for a bad file
        raise BertdistilError(f"{path}: cannot read as parquet / datasets folder ({type(e).__name__}: {e})") from None


def label_names(ds, column: str = "label") -> list[str] | None:
    """Names of a ``ClassLabel`` column in the order of its indices, else None."""
    feature = ds.features.get(column)
    return list(feature.names) if type(feature).__name__ == "ClassLabel" else None


def dataset_rows(path: Path, ds=None) -> Iterator[tuple[str, dict]]:
    """Rows of a parquet file / Dataset folder (``ds``: that source already loaded); ClassLabel columns give
    names (None for index -1)."""
    ds = ds if ds is not None else load_dataset_source(path)
    columns = ds.to_dict()
    for col in ds.column_names:
        names = label_names(ds, col)
        if names is not None:
            columns[col] = [names[v] if v is not None and v >= 0 else None for v in columns[col]]
    for i in range(len(ds)):
        yield f"{path} row {i}", {c: columns[c][i] for c in ds.column_names}


def rows(path: Path, header: bool = True) -> Iterator[tuple[str, dict]]:
    """Rows of any supported task file: ``dataset_rows`` for datasets sources, else ``text_rows``."""
    return dataset_rows(path) if is_arrow_source(path) else text_rows(path, header)
