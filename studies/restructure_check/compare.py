"""Compare two ``results.json`` of the same preset and seed, value by value.

Usage:
  .venv/bin/python studies/restructure_check/compare.py BEFORE/results.json AFTER/results.json OUT.txt

Timings, memory peaks, paths, the machine and provenance records differ from run to run by nature and are
listed as skipped; every other leaf (numbers, strings, lists) must be equal. Exit status 1 when one differs.
"""
import json
import sys
from pathlib import Path

# A key part is skipped when it names a timing, a memory figure, a location or a record of the run itself.
SKIPPED_SUFFIXES = ("_s", "_ms", "_mb", "_dir", "_path", "seconds", "speedup_vs_teacher")
SKIPPED_WORDS = ("latency", "throughput_seq", "rss", "wall_s", "step_s", "pass_s", "time_shares", "seconds_by_phase",
                 "gflop", "mfu", "peak", "machine", "provenance", "created", "from_cache", "single_invocation",
                 "name_or_path", "first_prediction")
SKIPPED_EXACT = ("dir", "folder", "path", "source", "checkpoint", "faults", "shares", "phases")


def leaves(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list) and any(isinstance(x, (dict, list)) for x in obj):
        for i, v in enumerate(obj):
            yield from leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, obj


def skipped(path: str) -> bool:
    parts = path.lower().replace("[", ".").split(".")
    return any(p.endswith(SKIPPED_SUFFIXES) or p in SKIPPED_EXACT or any(w in p for w in SKIPPED_WORDS)
               for p in parts)


def main(before: str, after: str, out: str) -> int:
    a = dict(leaves(json.loads(Path(before).read_text())))
    b = dict(leaves(json.loads(Path(after).read_text())))
    keys = sorted(set(a) | set(b))
    compared = [k for k in keys if not skipped(k)]
    differ = [k for k in compared if a.get(k, "<missing>") != b.get(k, "<missing>")]
    lines = [f"before: {before}", f"after:  {after}",
             f"{len(keys)} values; {len(compared)} compared, {len(keys) - len(compared)} skipped (timings, memory, "
             f"paths, machine, provenance); {len(differ)} differ", ""]
    lines += [f"DIFFERS {k}: {a.get(k, '<missing>')!r} -> {b.get(k, '<missing>')!r}" for k in differ]
    lines += ["", "skipped:"] + [f"  {k}" for k in keys if skipped(k)]
    Path(out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:3 + len(differ) + 1]))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
