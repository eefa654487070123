"""Which folders a command may write into, replace or empty: only those it can prove bertdistil wrote.

A command that writes into ``--out`` enters ``writing(out, kind)``: it holds the folder's lock (runlock.py)
and *claims* the folder. A folder that does not exist, or holds nothing but bookkeeping files, is created
and gets the marker ``OWNER_FILE`` ({kind, version, command, created}); a folder whose marker (or, for
folders written before the marker existed, whose signature file, ``LEGACY``) says it is of the same kind
is ours to resume, replace or empty. Anything else is refused with one line: a folder holding files of
its own (a project, a home directory), or a bertdistil folder of another kind (a run folder passed to
``export --out``); the commands that replace a folder wholesale (``export``, ``init-student``,
``finetune``) take ``--force`` to replace a non-empty folder anyway. ``--out`` equal to, inside or
containing one of the command's input folders is always refused (``check_apart``). A folder the command
created is removed again when the command fails before writing anything into it.
"""
from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

from .._version import __version__
from ..atomic import BOOKKEEPING, write_json
from ..errors import BertdistilError
from ..lock import LOCK as LOCK_NAME
from ..lock import run_lock

OWNER_FILE = ".bertdistil-owner.json"
KINDS = {"run": "a run folder (reproduce, distill, ablate)", "model": "a model folder (init-student, finetune)",
         "export": "an export (export)", "compress": "a compress output", "edge": "a bench-web output",
         "bench": "a bench output", "bench-train": "a bench-train output", "curve": "a curve output"}
SIGNATURES = {"compress": "compress.json", "edge": "edge.json", "bench": "bench.json",
              "bench-train": "train_throughput.json", "curve": "curve.json"}   # the file only that kind writes
REPLACED = {"model", "export"}           # kinds whose folder is replaced as a whole: --force applies


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _legacy_kind(folder: Path) -> str | None:
    """The kind of a folder written before OWNER_FILE existed, told by the file only that kind writes."""
    if {"distill", "loss", "masking"} <= _json(folder / "config.json").keys():
        return "run"
    if _json(folder / "export.json").get("format") in ("web", "ort"):
        return "export"
    if (folder / "config.json").is_file() and ((folder / "bertdistil_task.json").is_file() or _our_card(folder)):
        return "model"
    return next((kind for kind, name in SIGNATURES.items() if (folder / name).is_file()), None)


def _our_card(folder: Path) -> bool:
    """True when the folder's README.md is a model card bertdistil wrote (cards.py tags every card)."""
    try:
        head = (folder / "README.md").read_text(errors="replace")[:2000]
    except OSError:
        return False
    return head.startswith("---") and "- bertdistil" in head


def owner_kind(folder: str | Path) -> str | None:
    """The kind of bertdistil folder ``folder`` is (a key of KINDS), or None if it cannot be proved ours."""
    folder = Path(folder)
    marked = _json(folder / OWNER_FILE).get("kind")
    return marked if marked in KINDS else _legacy_kind(folder)


def contents(folder: Path) -> list[str]:
    """The names in ``folder`` other than bookkeeping files ([] for a folder that does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(BOOKKEEPING))


def check_apart(out: Path, inputs: dict[str, str | Path | None]) -> None:
    """BertdistilError when ``out`` is, is inside, or contains one of the ``inputs`` ({option: folder}): writing
    there would overwrite or delete what the command reads."""
    o = Path(out).expanduser().resolve()
    for option, folder in inputs.items():
        if folder is None or not Path(folder).expanduser().exists():
            continue
        i = Path(folder).expanduser().resolve()
        if o == i or i in o.parents or o in i.parents:
            where = "is" if o == i else "is inside" if i in o.parents else "contains"
            raise BertdistilError(f"--out {out} {where} the {option} folder {folder}: pass an --out outside it")


def _only_ours(out: Path) -> bool:
    """True when every entry of ``out`` is a bertdistil folder of its own (``init-student --out RUN/student_init``
    before ``distill --out RUN``)."""
    return all((out / name).is_dir() and owner_kind(out / name) is not None for name in contents(out))


def _never_forced(out: Path) -> None:
    """BertdistilError when ``out`` is a folder no --force may replace: /, the home folder, the current folder or
    one above it, or a git checkout."""
    o, cwd = out.expanduser().resolve(), Path.cwd().resolve()
    if o == Path(o.anchor) or o == Path.home().resolve() or o == cwd or o in cwd.parents or (o / ".git").exists():
        raise BertdistilError(f"--out {out} is the root, home or current folder (or one above it) or a git checkout: "
                              "--force never replaces it; pass a new folder")


def claim(out: Path, kind: str, force: bool = False) -> bool:
    """Make ``out`` a folder of ``kind`` that this command may write, replace or empty; see the module doc.
    ``force`` (commands that replace their folder) lets an unmarked non-empty folder be taken, never a
    bertdistil folder of another kind. Returns True when the marker was written now. BertdistilError
    (nothing written) when the folder is refused."""
    out = Path(out)
    found = owner_kind(out) if out.is_dir() else None
    if found is not None and found != kind:
        raise BertdistilError(f"--out {out} holds {KINDS[found]}, not {KINDS[kind]}: pass another --out")
    if found is None and contents(out) and not _only_ours(out):
        names = contents(out)
        if not (force and kind in REPLACED):
            fix = " (or --force to replace it)" if kind in REPLACED else ""
            raise BertdistilError(f"--out {out} is not empty ({len(names)} entries: {', '.join(names[:3])}"
                                  f"{', …' if len(names) > 3 else ''}) and was not written by bertdistil: pass a new "
                                  f"or empty folder{fix}")
        _never_forced(out)
    if (out / OWNER_FILE).is_file():
        return False
    out.mkdir(parents=True, exist_ok=True)
    write_json({"kind": kind, "by": f"bertdistil {__version__}", "command": " ".join(sys.argv),
                "created": time.strftime("%Y-%m-%d %H:%M:%S")}, out / OWNER_FILE)
    return True


@contextlib.contextmanager
def writing(out: str | Path, kind: str, *, force: bool = False, restart: bool = False,
            inputs: dict[str, str | Path | None] | None = None):
    """Hold ``out``'s lock and claim it as ``kind`` (``claim``) for the block, after ``check_apart`` with the
    command's ``inputs``; ``restart`` first empties it (``empty_folder``: only a folder already of ``kind``).
    When the block fails, a marker written now is taken back if the folder holds nothing else or was
    forced, and a folder created here that holds nothing is removed. BertdistilError when the folder is
    refused or another process writes there."""
    out = Path(out)
    check_apart(out, inputs or {})
    if out.exists() and not out.is_dir():
        raise BertdistilError(f"--out {out} is a file: pass a folder (it is created if missing)")
    created = not out.exists()
    with run_lock(out):
        if restart and contents(out):
            empty_folder(out, kind)
        marked = claim(out, kind, force)
        try:
            yield out
        except BaseException:            # still holding the lock: undo only what this command did
            if marked and (force or not contents(out)):
                (out / OWNER_FILE).unlink(missing_ok=True)
            if created and out.is_dir() and not contents(out):
                with contextlib.suppress(OSError):
                    (out / LOCK_NAME).unlink(missing_ok=True)
                    out.rmdir()
            raise


def empty_folder(out: str | Path, kind: str = "run") -> None:
    """Delete everything in ``out`` but its bookkeeping files (``--restart``); BertdistilError unless ``out``
    is a bertdistil folder of ``kind``."""
    out = Path(out)
    if owner_kind(out) != kind:
        raise BertdistilError(f"--out {out} is not {KINDS[kind]}: --restart empties only a folder bertdistil wrote")
    import shutil
    for p in out.iterdir():
        if not p.name.startswith(BOOKKEEPING):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
