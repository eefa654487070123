"""A user's own task (``--task NAME --train FILE --dev FILE``) and the task record of fine-tuned models.

Files may be TSV with a header, CSV, JSON lines, hub-layout parquet or ``save_to_disk`` folders (a
DatasetDict folder gives its ``train`` split to --train and ``validation``/``dev``/``test`` to --dev).
``bertdistil finetune`` writes the task definition into the model directory (``TASK_FILE``), so
``evaluate`` and ``predict`` know a task fine-tuned from the user's files by name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_json
from ..errors import BertdistilError
from .documents import dataset_splits, is_arrow_source
from .rows import dataset_rows, label_names, load_dataset_source, text_rows
from .tasks import TASK_FILE, TaskSpec, builtin_tasks

TEXT_COLUMNS = ["sentence1", "question", "#1 String", "premise", "sentence", "text"]
PAIR_COLUMNS = ["sentence2", "#2 String", "hypothesis"]
LABEL_COLUMNS = ["label", "score", "Quality"]


def _source(path: str | Path, role: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise BertdistilError(f"--{role} {p} not found: pass an existing TSV/CSV/JSONL/.parquet file or a datasets "
                              "save_to_disk folder")
    splits = dataset_splits(p)
    if not splits:
        return p
    wanted = ("train",) if role == "train" else ("validation", "dev", "test")
    for s in wanted:
        if s in splits:
            return p / s
    raise BertdistilError(f"--{role} {p}: no {' / '.join(wanted)} split among {splits}: pass a split folder")


def _sorted_values(values: set[str]) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


def user_task(name: str, train: str | Path, dev: str | Path, regression: bool | None = None) -> TaskSpec:
    """A TaskSpec for a user's files, columns found by name: text from sentence1 / question / #1 String /
    premise / sentence / text, an optional pair column from sentence2 / #2 String / hypothesis (or sentence
    after question), the label from label / score / Quality. Classes are a ClassLabel's names in its
    order, else the distinct train labels (numeric order when numbers); regression when ``regression``
    is set or the labels are non-integer numbers or more than 20 integers. BertdistilError for missing
    files or columns."""
    train_p, dev_p = _source(train, "train"), _source(dev, "dev")
    ds = load_dataset_source(train_p) if is_arrow_source(train_p) else None      # read once: rows and labels
    table = [r for _, r in (dataset_rows(train_p, ds) if ds is not None else text_rows(train_p, True))]
    cols = list(table[0]) if table else []
    pick = lambda cands: next((c for c in cands if c in cols), None)   # noqa: E731
    a = pick(TEXT_COLUMNS)
    b = pick(PAIR_COLUMNS + (["sentence"] if a == "question" else []))
    y = pick(LABEL_COLUMNS)
    if a is None or y is None:
        raise BertdistilError(f"{train_p}: cannot find a text column ({', '.join(TEXT_COLUMNS)}) and a label column "
                              f"({', '.join(LABEL_COLUMNS)}) among its columns {cols}")
    spec = TaskSpec(name, a, y, b, labels=[], hub_columns=(a, b, y), files={"train": [train_p], "dev": [dev_p]})
    names = label_names(ds, y) if ds is not None else None
    values = _sorted_values({str(r[y]).strip() for r in table if r[y] is not None})
    if names:
        regression = False
    elif regression is None:
        try:
            regression = not all(float(v).is_integer() for v in values) or len(values) > 20
        except ValueError:
            regression = False
    if regression:
        spec.labels, spec.metrics = None, ("pearson", "spearman")
    else:
        spec.labels = names or values
        spec.label_names = names
        spec.metrics = ("accuracy", "f1") if len(spec.labels) == 2 else ("accuracy",)
        if len(values) < 2:
            raise BertdistilError(f"{train_p}: every train label is {values[0]!r} (column '{y}'): a classification "
                                  "task needs at least 2 classes in its train file" if values else
                                  f"{train_p}: no labels in column '{y}': pass a labelled train file")
    return spec


def save_task(spec: TaskSpec, model_dir: Path) -> None:
    """Record the task definition (columns, labels, metrics, files as absolute paths) in a fine-tuned model
    directory."""
    files = {k: [str(Path(p).resolve()) for p in v] for k, v in spec.files.items()}   # usable from any directory
    write_json({**spec.to_json(), "files": files}, Path(model_dir) / TASK_FILE)


def load_task(model_dir: str | Path) -> TaskSpec | None:
    """The task recorded by ``save_task`` in ``model_dir``, or None."""
    f = Path(model_dir) / TASK_FILE
    if not f.is_file():
        return None
    d = json.loads(f.read_text())
    d["metrics"] = tuple(d["metrics"])
    d["hub_columns"] = tuple(d["hub_columns"]) if d.get("hub_columns") else None
    d["files"] = {k: [Path(p) for p in v] for k, v in d.get("files", {}).items()}
    return TaskSpec(**d)


def resolve_task(name: str | None, train: str | None = None, dev: str | None = None, regression: bool = False,
                 root: Path | None = None, model_dir: str | Path | None = None) -> TaskSpec:
    """A user task from --train/--dev, else a built-in task by name (files from the data root ``root``),
    else the task recorded in ``model_dir`` (``name`` None = the recorded one). BertdistilError otherwise."""
    if train or dev:
        if not (train and dev):
            raise BertdistilError("a task of your own needs both --train FILE and --dev FILE")
        return user_task(name or "task", train, dev, regression or None)
    recorded = load_task(model_dir) if model_dir else None
    name = name or (recorded.name if recorded else None)
    tasks = builtin_tasks(root)
    if name in tasks:
        return tasks[name]
    if recorded is not None and recorded.name == name:
        return recorded
    if name is None:
        raise BertdistilError(f"{model_dir} records no task: pass --task NAME")
    raise BertdistilError(f"unknown task '{name}': choose {', '.join(tasks)}, pass --train FILE --dev FILE, or a model "
                          "fine-tuned with `bertdistil finetune` (it records its task)")


@dataclass(frozen=True)
class TaskData:
    """The examples a single-task command uses: a built-in task by name (GLUE name or IMDb, files from the data
    root), or your own ``train``/``dev`` files (``regression``: scores, not labels), and seeded caps on the
    number of train / dev examples (0 = the whole split)."""
    task: str | None = None
    train: str | None = None
    dev: str | None = None
    regression: bool = False
    max_train_examples: int = 0
    max_eval_examples: int = 0

    @property
    def caps(self) -> tuple[int, int]:
        return self.max_train_examples, self.max_eval_examples

    def spec(self, root: Path | None, model_dir: str | Path | None = None) -> TaskSpec:
        """The TaskSpec (``resolve_task``); BertdistilError for an unknown task or a half-given pair of files."""
        return resolve_task(self.task, self.train, self.dev, self.regression, root, model_dir)
