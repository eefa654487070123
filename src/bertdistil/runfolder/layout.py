"""The layout of a run folder, every path in one place (``reproduce``, ``distill`` and each ablation row
write the same one), and ``cached_json``, the one way a stage reuses what it wrote before.

  OUT/.bertdistil.lock            the running command (runlock.py)
  OUT/config.json                 the resolved config; a resume must match it (pipeline.check_out_dir)
  OUT/results.json, report.md, loss_curves.png   (results.json names no machine's folders: provenance.portable)
  OUT/teacher_dirs.json           this machine's teacher folders, for the stages after pre-training
  OUT/student_init/               the student before training (= the truncated-teacher control)
  OUT/student/                    the distilled student
  OUT/controls/<name>/            trained controls (mlm_only, hidden_only, …)
  OUT/runs/<name>/                one training stage: checkpoints, log.jsonl, tb/, summary.json
  OUT/eval/<text>/<model>.json    masked-LM results per evaluation text
  OUT/downstream/<protocol>/      fine-tuning results per protocol hash (downstream.protocol_dir)
  OUT/bench.json, bench_texts.json, train_throughput.json, compress/<task>/
  OUT/edge/                       web export (web/), mobile export (ort/), edge.json, edge.png (webbench.py)
  OUT/ablation/<row>/             a run folder of its own per ablation row
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_json


@dataclass(frozen=True)
class RunLayout:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    def _p(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    config = property(lambda self: self._p("config.json"))
    results = property(lambda self: self._p("results.json"))
    teacher_dirs = property(lambda self: self._p("teacher_dirs.json"))
    report = property(lambda self: self._p("report.md"))
    loss_curves = property(lambda self: self._p("loss_curves.png"))
    student_init = property(lambda self: self._p("student_init"))
    student = property(lambda self: self._p("student"))
    bench = property(lambda self: self._p("bench.json"))
    bench_texts = property(lambda self: self._p("bench_texts.json"))
    train_throughput = property(lambda self: self._p("train_throughput.json"))
    edge = property(lambda self: self._p("edge"))
    downstream = property(lambda self: self._p("downstream"))
    downstream_json = property(lambda self: self._p("downstream.json"))
    sentence_eval = property(lambda self: self._p("sentence_eval"))

    def control(self, name: str) -> Path:
        return self._p("controls", name)

    def train_dir(self, name: str) -> Path:
        """A training stage's folder: the student's is runs/student, a control's runs/<control>."""
        return self._p("runs", name)

    def eval_file(self, text: str, model: str) -> Path:
        return self._p("eval", text, f"{model}.json")

    def compress_dir(self, task: str) -> Path:
        return self._p("compress", task)

    def ablation_row(self, row: str) -> RunLayout:
        return RunLayout(self._p("ablation", row))

    def model_dirs(self) -> dict[str, Path]:
        """The trained model directories that exist: truncated (student_init), mlm_only, student, the teacher
        named in results.json and, when that teacher was MLM-adapted, the original (teacher_original). A teacher
        whose MLM head alone was fitted (``teacher_head_only``) has the original's encoder bit for bit, so the
        original checkpoint is the teacher downstream (it also keeps its pooler) and is not fine-tuned twice."""
        dirs = {"truncated": self.student_init, "mlm_only": self.control("mlm_only"), "student": self.student}
        if self.results.is_file():
            results = json.loads(self.results.read_text())
            teacher = results["teacher"]
            # this machine's folders; results.json before it was portable held them itself
            where = json.loads(self.teacher_dirs.read_text()) if self.teacher_dirs.is_file() else teacher
            dirs["teacher"] = Path(where["name_or_path"])
            if teacher.get("preparation", {}).get("prepared") and where.get("source"):
                original = Path(where["source"])                        # the checkpoint before its head was fitted
                head_only = results.get("config", {}).get("teacher_head_only")
                dirs["teacher" if head_only else "teacher_original"] = original
        return {k: v for k, v in dirs.items() if (v / "config.json").is_file()}

    def train_logs(self) -> dict[str, list[dict]]:
        """{stage name: its log records} from every runs/<name>/summary.json."""
        return {f.parent.name: json.loads(f.read_text()).get("log", [])
                for f in sorted(self._p("runs").glob("*/summary.json"))}


def cached_json(path: Path, compute: Callable[[], dict], also: Path | None = None) -> dict:
    """The JSON at ``path`` if it exists (and ``also`` exists, e.g. the model it describes), else
    ``compute()`` written there atomically. Every stage that skips work already done goes through here."""
    path = Path(path)
    if path.is_file() and (also is None or Path(also).exists()):
        return json.loads(path.read_text())
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(result, path)
    return result


def cached_entries(path: Path, keys: list[str], compute: Callable[[str], dict],
                   keep: Callable[[dict], bool] = lambda entry: True, known: dict | None = None) -> dict:
    """{key: entry} for ``keys`` from the JSON object at ``path`` (entries that fail ``keep`` are dropped,
    ``known`` entries are added), each missing key computed by ``compute(key)`` and the file rewritten
    atomically after each: a stage measured entry by entry (bench timings) resumes where it stopped."""
    path = Path(path)
    cached = json.loads(path.read_text()) if path.is_file() else {}
    results = {**{k: v for k, v in cached.items() if keep(v)}, **(known or {})}
    for key in keys:
        if key not in results:
            results[key] = compute(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(results, path)
    return results
