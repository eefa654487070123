"""Stage timings and per-seed dev scores of a killed `make reproduce` of the default preset (fresh clone, fresh
cache), from the run folder's file times and cached per-seed results. Usage, from the repository root:
.venv/bin/python studies/default_timing/partial.py RUN_DIR > results/default_timing/partial.json
"""
import datetime
import json
import sys
from pathlib import Path

run = Path(sys.argv[1])
t = lambda p: datetime.datetime.fromtimestamp(Path(p).stat().st_mtime).strftime("%H:%M:%S")  # noqa: E731
stages = {"config written (start)": t(run / "config.json"),
          "teacher evaluated": t(run / "eval/wikitext2_valid/teacher.json"),
          "student distilled": t(run / "runs/student/summary.json"),
          "mlm_only trained": t(run / "runs/mlm_only/summary.json"),
          "mlm_only evaluated": t(run / "eval/wikitext2_valid/mlm_only.json")}
proto = next((run / "downstream").iterdir())
downstream = {}
for task in sorted(p for p in proto.iterdir() if p.is_dir()):
    models = {}
    for m in sorted(p for p in task.iterdir() if p.is_dir()):
        seeds = sorted(m.glob("seed*.json"))
        dev = [json.loads(s.read_text()) for s in seeds]
        models[m.name] = {"finished": [t(s) for s in seeds], "dev": [d.get("dev", d) for d in dev]}
    downstream[task.name] = models
print(json.dumps({"stages": stages, "downstream": downstream}, indent=1, default=str))
