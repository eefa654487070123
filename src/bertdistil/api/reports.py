"""The API of reports: a run's report regenerated from its result files, and the learning curve of runs at
several distillation budgets."""
from __future__ import annotations

import shutil
from pathlib import Path

from ..atomic import write_json
from ..data.benchmark_root import resolve_data_root
from ..errors import BertdistilError
from ..report.curve import learning_curve, plot_curve
from ..report.run_report import rewrite_report
from ..runfolder.ownership import writing


def regenerate_report(run: str | Path, *, curve: str | Path | None = None) -> Path:
    """Regenerate RUN/report.md and its plots from RUN/results.json; with ``curve`` (a ``bertdistil curve``
    output folder), first copy its curve.png and curve.json into RUN. Returns the report's path.
    BertdistilError for a missing or damaged results.json or curve folder."""
    if curve:
        for name in ("curve.png", "curve.json"):
            src = Path(curve) / name
            if not src.is_file():
                raise BertdistilError(f"{src} not found: pass the --out folder of `bertdistil curve`")
            shutil.copyfile(src, Path(run) / name)
    return rewrite_report(Path(run))


def curve(runs: list[str | Path], out: str | Path, *, data_dir: str | Path | None = None,
          exclude_tasks: tuple[str, ...] = ()) -> dict:
    """Retention vs distillation compute: GLUE macro-score and zero-shot STS-B of the student and the MLM-only
    control of ``reproduce`` runs that differ in ``distill.max_steps`` → OUT/curve.json, OUT/curve.png;
    returns the curve dict {points: [{run, tokens, macro: {model: {median, min, max}}, …}]}."""
    runs = [Path(r) for r in runs]
    result = learning_curve(runs, resolve_data_root(data_dir), tuple(exclude_tasks))
    with writing(Path(out), "curve", inputs={f"run {r}": r for r in runs}):
        write_json(result, Path(out) / "curve.json")
        plot_curve(result, Path(out) / "curve.png")
    return result
