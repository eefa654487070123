"""A run killed with SIGKILL and resumed gives exactly the losses of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

ARGS = ["--preset", "smoke", "--quiet", "--set", "distill.max_steps=24", "--set", "distill.checkpoint_every=3",
        "--set", "distill.log_every=1", "--set", "distill.eval_every=0", "--set", "distill.batch_size=4",
        "--set", "eval.max_tokens=500"]


def _cmd(teacher, out):
    return [sys.executable, "-m", "bertdistil.cli", "distill", "--teacher", str(teacher), "--out", str(out), *ARGS]


def _losses(out):
    rows = [json.loads(line) for line in (out / "run" / "log.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["terms"], r["tokens_seen"]) for r in rows]


def test_resume_after_kill_equals_uninterrupted(tiny_bert_dir, tmp_path):
    env = dict(os.environ)
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_cmd(tiny_bert_dir, full), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(_cmd(tiny_bert_dir, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = killed / "run" / "log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= 11:   # past the checkpoint at step 9
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "student").exists()
    assert (killed / "run" / "checkpoint.pt").is_file()
    subprocess.run(_cmd(tiny_bert_dir, killed), check=True, env=env, capture_output=True)
    a, b = _losses(full), _losses(killed)
    assert [r[0] for r in b] == list(range(1, 25))
    assert a == b
