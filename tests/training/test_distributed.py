"""torchrun on CPU (gloo): 2 processes × accumulation 1 follow the loss trajectory of 1 process ×
accumulation 2, and a 2-process checkpoint resumes in 1 process."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

pytestmark = pytest.mark.skipif(shutil.which("torchrun") is None and not os.path.exists(
    os.path.join(os.path.dirname(sys.executable), "torchrun")), reason="torchrun not installed")

COMMON = ["--preset", "smoke", "--quiet", "--set", "distill.max_steps=8", "--set", "distill.log_every=1",
          "--set", "distill.eval_every=0", "--set", "distill.batch_size=4", "--set", "distill.checkpoint_every=2",
          "--set", "eval.max_tokens=300", "--set", "threads=1"]


@pytest.fixture(scope="module")
def teacher_no_dropout(tmp_path_factory, tokenizer):
    """A tiny BERT with an MLM head and no dropout: then only batch split and summation order differ."""
    from transformers import BertConfig, BertForMaskedLM
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_nodrop")
    cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0)
    BertForMaskedLM(cfg).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _one(teacher, out, accum=2):
    return [sys.executable, "-m", "bertdistil", "distill", "--teacher", str(teacher), "--out", str(out), *COMMON,
            "--set", f"distill.gradient_accumulation_steps={accum}"]


def _two(teacher, out):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    return [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "bertdistil", "distill", "--teacher", str(teacher),
            "--out", str(out), *COMMON, "--set", "distill.gradient_accumulation_steps=1"]


def _log(out):
    return [json.loads(line) for line in (out / "runs" / "student" / "log.jsonl").read_text().splitlines()]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def test_two_processes_match_one_process_with_twice_the_accumulation(teacher_no_dropout, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run(_one(teacher_no_dropout, one), check=True, env=_env(), capture_output=True)
    p = subprocess.run(_two(teacher_no_dropout, two), env=_env(), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    a, b = _log(one), _log(two)
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, 9))
    assert [r["tokens_seen"] for r in a] == [r["tokens_seen"] for r in b]      # the same batches
    for ra, rb in zip(a, b):
        assert rb["loss"] == pytest.approx(ra["loss"], rel=2e-2)               # bf16 autocast tolerance
    assert json.loads((two / "runs" / "student" / "summary.json").read_text())["world_size"] == 2


def test_two_process_checkpoint_resumes_in_one_process(teacher_no_dropout, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(_one(teacher_no_dropout, ref), check=True, env=_env(), capture_output=True)
    proc = subprocess.Popen(_two(teacher_no_dropout, out), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    log = out / "runs" / "student" / "log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= 5:          # past the checkpoint at step 4
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode != 0, "the 2-process run finished before it could be killed"
    ck = torch.load(out / "runs" / "student" / "checkpoint.pt", weights_only=True)
    assert ck["world_size"] == 2 and ck["step"] >= 4
    p = subprocess.run(_one(teacher_no_dropout, out), env=_env(), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    a, b = _log(ref), _log(out)
    assert [r["step"] for r in b] == list(range(1, 9))
    assert [r["tokens_seen"] for r in a] == [r["tokens_seen"] for r in b]
    for ra, rb in zip(a[ck["step"]:], b[ck["step"]:]):
        assert rb["loss"] == pytest.approx(ra["loss"], rel=2e-2)
