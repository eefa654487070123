"""Downstream task data: the GLUE tasks, IMDb and user tasks, read into lists of examples.

An example is (text_a, text_b | None, label) with label an int class index or a float score.
Loaders raise BertdistilError naming ``file:line`` for malformed rows or unknown labels.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import BertdistilError
from .resources import data_dir


@dataclass
class TaskSpec:
    """Where a task's columns are and how it is scored. Columns are header names, or indices if no header."""
    name: str
    text_a: str | int
    label: str | int | None
    text_b: str | int | None = None
    labels: list[str] | None = None           # None = regression
    metrics: tuple[str, ...] = ("accuracy",)  # the first is the task's score in the macro average
    header: bool = True
    test_text_a: str | int | None = None      # column names differ in unlabelled GLUE test files
    test_text_b: str | int | None = None
    files: dict = field(default_factory=dict)  # split -> path relative to data/

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_labels(self) -> int:
        return 1 if self.labels is None else len(self.labels)


def _glue(task: str, *splits: str) -> dict:
    d = data_dir() / "glue" / task
    out = {}
    for s in splits:
        for cand in (d / f"{s}.tsv", d / f"{s}.tsv.gz"):
            if cand.is_file():
                out[s] = cand
    return out


GLUE_ORDER = ["CoLA", "MNLI", "MRPC", "QNLI", "QQP", "RTE", "SST-2", "STS-B", "WNLI"]


def builtin_tasks() -> dict[str, TaskSpec]:
    """The tasks whose data ships in data/ (MNLI and QQP are absent; QNLI has no train split here)."""
    return {
        "CoLA": TaskSpec("CoLA", 3, 1, labels=["0", "1"], metrics=("mcc", "accuracy"), header=False,
                         test_text_a="sentence", files=_glue("CoLA", "train", "dev")),
        "SST-2": TaskSpec("SST-2", "sentence", "label", labels=["0", "1"], files=_glue("SST-2", "train", "dev", "test")),
        "MRPC": TaskSpec("MRPC", "#1 String", "Quality", "#2 String", labels=["0", "1"], metrics=("f1", "accuracy"),
                         files=_glue("MRPC", "train", "dev", "test")),
        "STS-B": TaskSpec("STS-B", "sentence1", "score", "sentence2", labels=None, metrics=("pearson", "spearman"),
                          files=_glue("STS-B", "train", "dev", "test")),
        "RTE": TaskSpec("RTE", "sentence1", "label", "sentence2", labels=["entailment", "not_entailment"],
                        files=_glue("RTE", "train", "dev")),
        "WNLI": TaskSpec("WNLI", "sentence1", "label", "sentence2", labels=["0", "1"], files=_glue("WNLI", "train", "dev")),
        "QNLI": TaskSpec("QNLI", "question", "label", "sentence", labels=["entailment", "not_entailment"],
                         files=_glue("QNLI", "dev")),
        "IMDb": TaskSpec("IMDb", "text", "label", labels=["0", "1"], files={
            "train": sorted((data_dir() / "imdb").glob("train-*.jsonl.gz")),
            "dev": sorted((data_dir() / "imdb").glob("test-*.jsonl.gz"))}),
    }


def _open(path: Path):
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return io.StringIO(raw.decode("utf-8-sig"))


def _rows(path: Path, header: bool):
    """Yield (line number, {column: value}) from TSV / CSV / JSONL (by extension)."""
    name = str(path).removesuffix(".gz")
    f = _open(path)
    if name.endswith(".jsonl") or name.endswith(".json"):
        for i, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield i, json.loads(line)
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
        yield i, dict(zip(cols, row)) if cols else dict(enumerate(row))


def _get(row: dict, col, path: Path, line: int) -> str:
    if col not in row:
        raise BertdistilError(f"{path}:{line}: column '{col}' missing (row has {', '.join(map(str, row))}): "
                              "check the task's file format")
    return row[col]


def load_split(spec: TaskSpec, path: Path | list[Path], labelled: bool = True, limit: int = 0) -> list[tuple]:
    """Read one split. Returns [(text_a, text_b | None, label | None)]; labels mapped to ints, or floats
    for regression. ``labelled=False`` reads GLUE test files (no label column). ``limit`` > 0 keeps
    the first ``limit`` examples."""
    paths = path if isinstance(path, list) else [path]
    out = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise BertdistilError(f"{spec.name} data file {p} not found: pass an existing TSV/CSV/JSONL file")
        a_col = spec.text_a if labelled or spec.test_text_a is None else spec.test_text_a
        b_col = spec.text_b if labelled or spec.test_text_b is None else spec.test_text_b
        header = spec.header or not labelled
        for line, row in _rows(p, header):
            a = _get(row, a_col, p, line)
            b = _get(row, b_col, p, line) if b_col is not None else None
            y = None
            if labelled:
                raw = str(_get(row, spec.label, p, line)).strip()
                if spec.is_regression:
                    try:
                        y = float(raw)
                    except ValueError:
                        raise BertdistilError(f"{p}:{line}: score '{raw}' is not a number") from None
                elif raw not in spec.labels:
                    raise BertdistilError(f"{p}:{line}: label '{raw}' is not one of {spec.labels}")
                else:
                    y = spec.labels.index(raw)
            out.append((a, b, y))
            if limit and len(out) >= limit:
                return out
    if not out:
        raise BertdistilError(f"{spec.name}: {', '.join(map(str, paths))} holds no examples")
    return out


def subsample(items: list, n: int, seed: int = 0) -> list:
    """At most ``n`` items (0 = all), a fixed random subset kept in the original order."""
    if not n or len(items) <= n:
        return items
    keep = np.random.default_rng(seed).choice(len(items), n, replace=False)
    return [items[i] for i in sorted(keep)]


def user_task(name: str, train: str, dev: str, regression: bool | None = None) -> TaskSpec:
    """A TaskSpec for a user's GLUE-format file (TSV with header, CSV or JSONL), columns found by name:
    text from sentence / sentence1 / text / question / #1 String, optional pair column from sentence2 /
    #2 String / sentence, label from label / score / Quality. Classes are the sorted distinct labels
    of the train file; regression when ``regression`` is set or every label is a non-integer number."""
    rows = [r for _, r in _rows(Path(train), True)]
    cols = list(rows[0]) if rows else []
    pick = lambda cands: next((c for c in cands if c in cols), None)
    a = pick(["sentence1", "question", "#1 String", "sentence", "text"])
    b = pick(["sentence2", "#2 String"] + (["sentence"] if a == "question" else []))
    y = pick(["label", "score", "Quality"])
    if a is None or y is None:
        raise BertdistilError(f"{train}: cannot find a text column (sentence, sentence1, text, question) and a label "
                              f"column (label, score) in its header {cols}")
    spec = TaskSpec(name, a, y, b, labels=[], files={"train": Path(train), "dev": Path(dev)})
    values = sorted({str(r[y]).strip() for r in rows})
    if regression is None:
        try:
            regression = not all(float(v).is_integer() for v in values) or len(values) > 20
        except ValueError:
            regression = False
    if regression:
        spec.labels, spec.metrics = None, ("pearson", "spearman")
    else:
        spec.labels = values
        spec.metrics = ("accuracy", "f1") if len(values) == 2 else ("accuracy",)
    return spec
