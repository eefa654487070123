"""A run killed with SIGKILL and resumed gives exactly the losses of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ARGS = ["--preset", "smoke", "--quiet", "--set", "distill.max_steps=24", "--set", "distill.checkpoint_every=3",
        "--set", "distill.log_every=1", "--set", "distill.eval_every=0", "--set", "distill.batch_size=4",
        "--set", "eval.max_tokens=500"]


def _cmd(teacher, out):
    return [sys.executable, "-m", "bertdistil.cli", "distill", "--teacher", str(teacher), "--out", str(out), *ARGS]


def _losses(out):
    rows = [json.loads(line) for line in (out / "runs" / "student" / "log.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["terms"], r["tokens_seen"]) for r in rows]


def test_resume_after_kill_equals_uninterrupted(tiny_bert_dir, tmp_path):
    env = dict(os.environ)
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_cmd(tiny_bert_dir, full), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(_cmd(tiny_bert_dir, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = killed / "runs" / "student" / "log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if log.is_file() and len(log.read_text().splitlines()) >= 11:   # past the checkpoint at step 9
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "student").exists()
    assert (killed / "runs" / "student" / "checkpoint.pt").is_file()
    subprocess.run(_cmd(tiny_bert_dir, killed), check=True, env=env, capture_output=True)
    a, b = _losses(full), _losses(killed)
    assert [r[0] for r in b] == list(range(1, 25))
    assert a == b


def test_teacher_preparation_is_the_same_whatever_the_global_rng_state(tiny_bert_no_head_dir, tokenizer, tmp_path):
    """PyTorch seeds its default generator differently in every process: the head fitted to a head-less teacher
    must still come out the same (it is initialised after seeding from cfg.seed)."""
    import torch
    from safetensors.torch import load_file

    from bertdistil.config import load_preset
    from bertdistil.data.corpus import prepare_corpus
    from bertdistil.training.teacher_prep import prepare_teacher_dir
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(f"Line {i}: the river runs past {i % 5} mills and a bridge." for i in range(120)))
    cfg = load_preset("smoke", ["teacher_prep.max_steps=2"])
    ds = prepare_corpus([str(corpus)], tokenizer, 32, tmp_path / "tok")
    weights = []
    for state in (1, 2):
        torch.manual_seed(state)                 # a different global RNG state before each preparation
        folder, _ = prepare_teacher_dir(tiny_bert_no_head_dir, cfg, tokenizer, ds, tmp_path / f"cache{state}",
                                        progress=False)
        weights.append(load_file(str(folder / "model.safetensors")))
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_cached_json_and_cached_entries_skip_work_done(tmp_path):
    """A stage killed between entries resumes with the entries it finished; stale entries are redone."""
    from bertdistil.runfolder.layout import cached_entries, cached_json
    calls = []
    f = tmp_path / "a.json"
    assert cached_json(f, lambda: calls.append("a") or {"x": 1}, also=tmp_path / "model") == {"x": 1}
    assert cached_json(f, lambda: calls.append("a") or {"x": 2}, also=tmp_path / "model") == {"x": 2}  # no model
    (tmp_path / "model").mkdir()
    assert cached_json(f, lambda: calls.append("a") or {"x": 3}, also=tmp_path / "model") == {"x": 2}
    assert calls == ["a", "a"]

    bench = tmp_path / "bench.json"

    def measure(key):
        calls.append(key)
        if key == "k3":
            raise KeyboardInterrupt                       # killed while measuring the third entry
        return {"key": key, "text": "t1"}
    with pytest.raises(KeyboardInterrupt):
        cached_entries(bench, ["k1", "k2", "k3"], measure)
    assert sorted(json.loads(bench.read_text())) == ["k1", "k2"]
    calls.clear()
    out = cached_entries(bench, ["k1", "k2", "k4"], lambda k: calls.append(k) or {"key": k, "text": "t2"},
                         keep=lambda e: e["text"] == "t1", known={"k5": {"key": "k5", "text": "t1"}})
    assert calls == ["k4"] and set(out) == {"k1", "k2", "k4", "k5"}
    out = cached_entries(bench, ["k1"], lambda k: calls.append(k) or {"key": k, "text": "t2"},
                         keep=lambda e: e["text"] == "t2")     # entries of another text are measured again
    assert calls == ["k4", "k1"] and out["k1"]["text"] == "t2"


def test_head_only_teacher_preparation_keeps_the_encoder(tmp_path, tokenizer, tiny_bert_no_head_dir):
    """teacher_head_only: the fitted head changes, every encoder tensor stays the original's (bit for bit)."""
    import torch
    from safetensors.torch import load_file

    from bertdistil.config import load_preset
    from bertdistil.data.corpus import prepare_corpus
    from bertdistil.training.teacher_prep import prepare_teacher_dir
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(f"Line {i}: the river runs past {i % 5} mills and a bridge." for i in range(120)))
    ds = prepare_corpus([str(corpus)], tokenizer, 32, tmp_path / "tok")
    original = load_file(str(tiny_bert_no_head_dir / "model.safetensors"))
    out = {}
    for head_only in (False, True):
        cfg = load_preset("smoke", ["teacher_prep.max_steps=3", f"teacher_head_only={str(head_only).lower()}"])
        folder, _ = prepare_teacher_dir(tiny_bert_no_head_dir, cfg, tokenizer, ds, tmp_path / "cache", progress=False)
        out[head_only] = load_file(str(folder / "model.safetensors"))
    enc = [k for k in original if not k.startswith("pooler")]
    assert all(torch.equal(out[True]["bert." + k], original[k]) for k in enc)               # encoder kept
    assert not all(torch.equal(out[False]["bert." + k], original[k]) for k in enc)          # adapted otherwise
    head = [k for k in out[True] if k.startswith("cls.") and "decoder.weight" not in k]
    assert head and any(not torch.equal(out[True][k], out[False][k]) for k in head)


def test_head_only_teacher_is_fine_tuned_once_from_the_original(tmp_path, tiny_bert_dir, tiny_bert_no_head_dir):
    """Downstream models of a run: an MLM-adapted teacher and its original are two models; a head-only teacher
    shares the original's encoder, so the original checkpoint is the teacher and nothing is fine-tuned twice."""
    from bertdistil.config import load_preset
    from bertdistil.downstream.protocol import protocol_dir
    from bertdistil.runfolder.layout import RunLayout
    layout = RunLayout(tmp_path)
    prepared = {"name_or_path": str(tiny_bert_dir), "source": str(tiny_bert_no_head_dir),
                "preparation": {"prepared": True}}
    for head_only, expected in ((False, {"teacher": tiny_bert_dir, "teacher_original": tiny_bert_no_head_dir}),
                                (True, {"teacher": tiny_bert_no_head_dir})):
        layout.results.write_text(json.dumps({"teacher": prepared, "config": {"teacher_head_only": head_only}}))
        assert layout.model_dirs() == expected
    adapted = load_preset("smoke", ["teacher_head_only=false"])
    head_only = load_preset("smoke", ["teacher_head_only=true"])
    assert protocol_dir(tmp_path, adapted) != protocol_dir(tmp_path, head_only)   # cached results never mix


def test_a_run_made_before_a_setting_existed_resumes_with_it_at_its_default(tmp_path):
    """A run folder whose config.json lacks a later setting (here the embedding terms) resumes while the new
    setting is at its default, and is refused once it is not; the sentence-encoder suite may change freely."""
    import json

    from bertdistil.config import load_preset
    from bertdistil.errors import BertdistilError
    from bertdistil.pipeline.stages import check_out_dir
    out = tmp_path / "run"
    cfg = load_preset("smoke")
    check_out_dir(out, cfg)
    (out / "student").mkdir()                                  # a stage made something
    saved = json.loads((out / "config.json").read_text())
    for key in ("alpha_emb_mse", "alpha_emb_cos", "pooling"):
        del saved["loss"][key]
    (out / "config.json").write_text(json.dumps(saved))
    check_out_dir(out, load_preset("smoke", ["sentence_eval.folds=4"]))
    with pytest.raises(BertdistilError, match="other settings"):
        check_out_dir(out, load_preset("smoke", ["loss.alpha_emb_cos=1"]))
