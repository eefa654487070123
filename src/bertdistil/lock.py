"""One run per output folder: ``run_lock(OUT)`` holds ``OUT/.bertdistil.lock`` (pid, host, start, command)
while a command writes there. A second command on the same folder stops with one line naming the running
process; a lock left by a process that no longer exists (killed run) is taken over with a warning.
``entry_lock(ENTRY)`` guards a shared cache entry (a prepared teacher, a tokenised corpus) instead: a second
process waits for the first and then reuses what it made."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path

from .errors import BertdistilError

LOCK = ".bertdistil.lock"


def _alive(info: dict) -> bool:
    if info.get("host") != socket.gethostname():
        return True                          # another machine's process: cannot tell, assume it runs
    try:
        os.kill(int(info["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(lock: Path) -> dict:
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):
        return {}                            # empty or half-written lock: its writer died before finishing


@contextlib.contextmanager
def run_lock(out: Path):
    """Hold the lock of ``out`` (created if needed) for the block. BertdistilError if a live process holds it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BertdistilError(f"--out {out} is a file: pass a folder (it is created if missing)")
    out.mkdir(parents=True, exist_ok=True)
    lock = out / LOCK
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv)}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            held = _read(lock)
            if held and _alive(held):
                raise BertdistilError(f"{out} is in use by process {held.get('pid')} on {held.get('host')} (started "
                                      f"{held.get('started')}: {held.get('command')}): wait for it to finish, or "
                                      f"pass another --out (remove {lock} if that process is gone)") from None
            print(f"bertdistil: warning: taking over the stale lock {lock} of process {held.get('pid')} (gone)",
                  file=sys.stderr)
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(info))
        break
    else:
        raise BertdistilError(f"{lock}: another process took the lock at the same moment: pass another --out")
    try:
        yield
    finally:
        if _read(lock).get("pid") == info["pid"]:
            lock.unlink(missing_ok=True)


@contextlib.contextmanager
def entry_lock(entry: Path, what: str):
    """Hold ``<entry>.lock`` (``filelock.FileLock``: an OS lock, released when the process dies) while a
    cache entry is made, so a second process preparing the same entry waits for the first and then reuses
    its result instead of racing it. ``what`` names the entry in the one line printed while waiting."""
    from filelock import FileLock, Timeout
    entry = Path(entry)
    entry.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(entry) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"bertdistil: waiting for another process preparing {what} ({entry})", file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()
