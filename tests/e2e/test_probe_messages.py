"""The reliability probe, continued: corpora a user brings, misleading messages and failed starts, and bad
settings that end in one line (exit 2) instead of a traceback, with nothing already written lost."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from probe_util import REPO, _err, _one_line, _tree, _user_folder

from bertdistil.cli.parser import main
from bertdistil.data.corpus import prepare_corpus
from bertdistil.data.documents import MAX_BLOCK_CHARS, is_heldout, iter_documents
from bertdistil.errors import BertdistilError

# --- corpora ----------------------------------------------------------------------------------------------------

def test_a_corpus_without_newlines_is_cut_into_blocks_and_packed(tmp_path, tokenizer):
    words = " ".join(f"word{i % 997} of the long line" for i in range(120_000))        # ~2.9 MB, no newline
    (tmp_path / "line.txt").write_text(words)
    blocks = list(iter_documents(tmp_path / "line.txt"))
    assert len(blocks) > 20 and all(len(b) <= MAX_BLOCK_CHARS for b in blocks)
    assert " ".join(blocks).split() == words.split()                # nothing lost or duplicated at the cuts
    ds = prepare_corpus([str(tmp_path / "line.txt")], tokenizer, 64, tmp_path / "cache", progress=False)
    assert len(ds) > 1000 and max(ds.lengths) == 64


def test_packing_a_long_document_is_linear_and_exact(tmp_path):
    import numpy as np

    from bertdistil.data.corpus import _SequenceWriter
    ids = list(range(1000, 1000 + 2_000_000))                      # one 2M-token document
    with _SequenceWriter(tmp_path, np.dtype(np.uint32), 3_000_000, 1, 2, 64) as w:
        w.add([ids])
        w.end_file()
    flat = np.fromfile(tmp_path / "ids.bin", dtype=np.uint32)
    lens = np.fromfile(tmp_path / "lengths.bin", dtype=np.uint32)
    assert w.n_seq == -(-len(ids) // 62) and lens.max() == 64
    body = flat[(flat != 1) & (flat != 2)]
    assert np.array_equal(body, np.asarray(ids, dtype=np.uint32))


def test_a_corpus_whose_documents_all_fall_in_the_held_out_split(tmp_path, tiny_bert_dir, capsys):
    doc = next(f"The only document, version {i}." for i in range(10_000) if is_heldout(f"The only document, "
                                                                                         f"version {i}.", 50))
    (tmp_path / "one.txt").write_text(doc + "\n")
    code = main(["prepare-corpus", "--preset", "smoke", "--quiet", "--teacher", str(tiny_bert_dir), "--corpus",
                 str(tmp_path / "one.txt")])
    err = _one_line(capsys, code, "all its 1 document(s) fell in the held-out split (eval.heldout_every=50)",
                    "--set eval.heldout_every=0")
    assert "contains no text" not in err


def test_sigterm_leaves_no_temporary_corpus_folder(tmp_path, tiny_bert_dir):
    (tmp_path / "big.txt").write_text("\n\n".join(f"Paragraph {i}: " + "words and more words " * 40
                                                  for i in range(40_000)))
    env = {**os.environ, "BERTDISTIL_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "bertdistil.cli", "prepare-corpus", "--preset", "smoke", "--quiet",
                             "--teacher", str(tiny_bert_dir), "--corpus", str(tmp_path / "big.txt")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    corpus_dir, deadline = tmp_path / "cache" / "corpus", time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list(corpus_dir.glob("*.tmp*")):
        time.sleep(0.01)
    assert proc.poll() is None, "the preparation finished before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "terminated" in err
    assert list(corpus_dir.glob("*.tmp*")) == []


# --- misleading messages and failed starts ----------------------------------------------------------------------

def test_a_failed_start_does_not_block_the_corrected_command(tmp_path, tiny_bert_dir, capsys):
    out = tmp_path / "x"
    argv = ["reproduce", "--preset", "smoke", "--quiet", "--teacher", str(tiny_bert_dir), "--out", str(out),
            "--set", "finetune=null", "--set", "bench=null", "--set", "train_bench=null", "--set", "edge=null",
            "--set", "compress=null", "--set", "sentence_eval=null"]
    _one_line(capsys, main([*argv, "--corpus", str(tmp_path / "nope.txt")]), "nope.txt")
    good = tmp_path / "good.txt"
    good.write_text("\n\n".join(f"Paragraph {i} about a river and a mill." for i in range(300)))
    assert main([*argv, "--corpus", str(good), "--set", "distill.max_steps=2"]) == 0, _err(capsys)
    assert (out / "student" / "config.json").is_file()


def test_a_malformed_teacher_config_is_named(tmp_path, tiny_bert_dir, capsys):
    bad = tmp_path / "bad_json"
    shutil.copytree(tiny_bert_dir, bad)
    (bad / "config.json").write_text((tiny_bert_dir / "config.json").read_text()[:300])
    code = main(["prepare-teacher", "--preset", "smoke", "--quiet", "--teacher", str(bad)])
    err = _one_line(capsys, code, f"{bad}/config.json: invalid JSON (line", "re-save the checkpoint")
    assert "tokenizer" not in err


def test_the_task_record_works_from_any_directory(ft, monkeypatch, capsys):
    record = json.loads((ft / "bertdistil_task.json").read_text())
    assert all(Path(p).is_absolute() for files in record["files"].values() for p in files)
    monkeypatch.chdir("/")
    capsys.readouterr()
    assert main(["evaluate", "--preset", "smoke", "--model", str(ft)]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 40


def test_distill_takes_the_restart_it_advises(tmp_path, tiny_bert_dir, capsys):
    out = tmp_path / "d"
    argv = ["distill", "--preset", "smoke", "--quiet", "--teacher", str(tiny_bert_dir), "--out", str(out),
            "--set", "distill.max_steps=2", "--set", "eval.max_tokens=300"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--set", "distill.lr=1e-4"]) == 2
    assert "--restart" in _err(capsys)
    assert main([*argv, "--set", "distill.lr=1e-4", "--restart"]) == 0
    assert json.loads((out / "config.json").read_text())["distill"]["lr"] == 1e-4


def test_a_layer_map_longer_than_the_teacher_is_refused(tmp_path, tiny_bert_dir, capsys):
    code = main(["init-student", "--teacher", str(tiny_bert_dir), "--out", str(tmp_path / "s"), "--layer-map",
                 "0,1,2,3,0,1,2,3,0"])
    _one_line(capsys, code, "has 9 entries but the teacher has 4 layers")
    assert not (tmp_path / "s").exists()


# --- one line instead of a traceback ----------------------------------------------------------------------------

@pytest.mark.parametrize("setting,needle", [
    ("distill.checkpoint_every=0", "distill.checkpoint_every must be >= 1"),
    ("distill.log_every=0", "distill.log_every must be >= 1"),
    ("teacher_prep.checkpoint_every=0", "teacher_prep.checkpoint_every must be >= 1"),
    ("finetune.batch_size=0", "finetune.batch_size must be >= 1"),
    ("loss.temperature=0", "loss.temperature must be > 0"),
    ("device=cuda", "--set device=cuda: this torch build has no CUDA"),
])
def test_impossible_settings_are_one_line_before_anything_is_written(tmp_path, tiny_bert_dir, capsys, setting,
                                                                     needle):
    if setting.startswith("device") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "o"
    code = main(["distill", "--preset", "smoke", "--quiet", "--teacher", str(tiny_bert_dir), "--out", str(out),
                 "--set", setting])
    _one_line(capsys, code, needle)
    assert not out.exists()


def test_serve_on_a_port_in_use(tmp_path, capsys):
    from bertdistil.deploy.web_export import start_server
    web = tmp_path / "web"
    (web / "model").mkdir(parents=True)
    (web / "index.html").write_text("<html></html>")
    (web / "model" / "config.json").write_text("{}")
    first = start_server(web, 0)
    try:
        port = first.server_address[1]
        with pytest.raises(BertdistilError, match=f"port {port} on 127.0.0.1 is in use: pass --port N"):
            start_server(web, port)                     # what `bertdistil serve --port PORT` calls first
        import urllib.error
        import urllib.request
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/model/")           # no directory listings
    finally:
        first.shutdown()


def test_compress_creates_its_out_folder(tmp_path, ft, capsys):
    out = tmp_path / "newdir" / "c"
    code = main(["compress", "--preset", "smoke", "--quiet", "--model", str(ft), "--task", "mine", "--out", str(out),
                 "--set", 'compress.variants=["torch_int8"]'])
    assert code == 0, _err(capsys)
    comp = json.loads((out / "compress.json").read_text())
    assert set(comp["variants"]) == {"fp32", "torch_int8"} and (out / "compress.md").is_file()


@pytest.mark.parametrize("damage", ["truncated", "wrong type"])
def test_report_on_a_damaged_results_file(tmp_path, capsys, damage):
    run = tmp_path / "run"
    shutil.copytree(REPO / "results" / "default", run)
    results = run / "results.json"
    if damage == "truncated":
        results.write_text(results.read_text()[:5000])
    else:
        r = json.loads(results.read_text())
        r["distill"] = "fast"
        results.write_text(json.dumps(r))
    before = (run / "report.md").read_bytes()
    code = main(["report", "--run", str(run)])
    _one_line(capsys, code, f"{results} is not a valid results file", "rerun bertdistil reproduce --out")
    assert (run / "report.md").read_bytes() == before


def test_force_never_replaces_another_kind_and_a_failed_force_leaves_no_mark(tmp_path, tiny_bert_dir, ft, capsys):
    from bertdistil.runfolder.ownership import OWNER_FILE
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"distill": {}, "loss": {}, "masking": {}}))   # a run folder
    code = main(["export", "--format", "ort", "--model", str(ft), "--out", str(run), "--force"])
    _one_line(capsys, code, "holds a run folder")
    mine = _user_folder(tmp_path / "mine")
    before = _tree(mine)
    code = main(["export", "--format", "ort", "--model", str(tiny_bert_dir), "--out", str(mine), "--force"])
    _one_line(capsys, code, "is not a fine-tuned classifier")
    assert _tree(mine) == before and not (mine / OWNER_FILE).exists()      # still refused without --force
    _one_line(capsys, main(["export", "--format", "ort", "--model", str(ft), "--out", str(mine)]), "is not empty")


def test_a_run_folder_may_already_hold_its_student_init(tmp_path, tiny_bert_dir, capsys):
    run = tmp_path / "run"
    assert main(["init-student", "--teacher", str(tiny_bert_dir), "--out", str(run / "student_init")]) == 0
    assert main(["distill", "--preset", "smoke", "--quiet", "--teacher", str(tiny_bert_dir), "--out", str(run),
                 "--student", str(run / "student_init"), "--set", "distill.max_steps=2", "--set",
                 "eval.max_tokens=300"]) == 0, _err(capsys)
    assert (run / "student" / "config.json").is_file()
