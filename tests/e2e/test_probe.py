"""The reliability probe's cases, each as a new user meets it: no code runs from a checkpoint, no folder that
bertdistil did not write is replaced or emptied, every writer holds a lock, nothing silently wrong is reported,
and bad input ends in one line (exit 2) with nothing already written lost."""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from probe_util import REPO, _err, _one_line, _tree, _user_folder

from bertdistil.cli.parser import main
from bertdistil.config import LossConfig, MaskingConfig, OptimConfig, load_preset
from bertdistil.data.corpus import prepare_corpus
from bertdistil.errors import BertdistilError
from bertdistil.lock import LOCK
from bertdistil.models.loading import load_masked_lm
from bertdistil.training.loop import CHECKPOINT, TrainOptions, train
from bertdistil.training.masking import Masker

# --- security and data loss -------------------------------------------------------------------------------------

def test_no_checkpoint_load_may_run_code():
    hits = subprocess.run(["grep", "-rn", "weights_only=False", str(REPO / "src")], capture_output=True, text=True)
    assert hits.stdout == ""


class _Payload:
    """Unpickling this runs ``touch MARKER`` (what a crafted checkpoint.pt does)."""
    marker = ""

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_is_unreadable_never_executed(tmp_path, tiny_bert_dir, tokenizer, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(f"Line {i} of the town by the river." for i in range(60)))
    ds = prepare_corpus([str(corpus)], tokenizer, 32, tmp_path / "cache")
    masker = Masker(MaskingConfig(), ds.counts, sorted(set(tokenizer.all_special_ids)), tokenizer.mask_token_id)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _Payload.marker = str(tmp_path / "PWNED")
    torch.save({"model": _Payload(), "optimizer": {}, "scheduler": {}, "sampler": {}, "step": 1, "tokens_seen": 0,
                "wall_s": 0.0}, run_dir / CHECKPOINT)
    model, _ = load_masked_lm(tiny_bert_dir)
    with pytest.raises(BertdistilError, match="no readable checkpoint"):
        train(model, None, tokenizer, ds, masker, run_dir,
              TrainOptions(LossConfig(alpha_ce=0, alpha_mlm=1, alpha_cos=0),
                           OptimConfig(batch_size=4, gradient_accumulation_steps=1, max_steps=2), seed=0, bf16=False,
                           progress=False, cpu_kernels=False))
    assert not (tmp_path / "PWNED").exists()
    assert "unreadable" in _err(capsys)


def test_export_refuses_a_folder_it_did_not_write(tmp_path, ft, capsys):
    mine = _user_folder(tmp_path / "myproject")
    before = _tree(mine)
    code = main(["export", "--format", "ort", "--model", str(ft), "--out", str(mine)])
    _one_line(capsys, code, "is not empty", "was not written by bertdistil", "--force")
    assert _tree(mine) == before


@pytest.mark.parametrize("where", ["same", "inside"])
def test_export_refuses_out_at_or_inside_the_model(tmp_path, ft, capsys, where):
    model = tmp_path / "ft_copy"
    shutil.copytree(ft, model)
    before = _tree(model)
    out = model if where == "same" else model / "web"
    code = main(["export", "--format", "ort", "--model", str(model), "--out", str(out), "--force"])
    _one_line(capsys, code, "--out", "the --model folder", "pass an --out outside it")
    assert _tree(model) == before


def test_export_refuses_a_run_folder(tmp_path, ft, capsys):
    from bertdistil.runfolder.ownership import OWNER_FILE
    run = tmp_path / "run"
    run.mkdir()
    (run / OWNER_FILE).write_text(json.dumps({"kind": "run"}))
    (run / "results.json").write_text("{}")
    code = main(["export", "--format", "ort", "--model", str(ft), "--out", str(run)])
    _one_line(capsys, code, "holds a run folder", "not an export")
    assert (run / "results.json").read_text() == "{}"


def test_init_student_refuses_a_user_folder_and_replaces_its_own(tmp_path, tiny_bert_dir, capsys):
    from bertdistil.runfolder.ownership import OWNER_FILE
    mine = _user_folder(tmp_path / "mymodels")
    before = _tree(mine)
    code = main(["init-student", "--teacher", str(tiny_bert_dir), "--out", str(mine)])
    _one_line(capsys, code, "is not empty", "--force")
    assert _tree(mine) == before
    out = tmp_path / "student_init"
    assert main(["init-student", "--teacher", str(tiny_bert_dir), "--out", str(out)]) == 0
    assert main(["init-student", "--teacher", str(tiny_bert_dir), "--out", str(out), "--layer-map", "0,3"]) == 0
    assert json.loads((out / OWNER_FILE).read_text())["kind"] == "model" and not (out / LOCK).exists()
    assert main(["init-student", "--teacher", str(tiny_bert_dir), "--out", str(mine), "--force"]) == 0
    assert (mine / "config.json").is_file() and not (mine / "thesis.txt").exists()
    code = main(["init-student", "--teacher", str(tiny_bert_dir), "--out", str(tiny_bert_dir), "--force"])
    _one_line(capsys, code, "is the --teacher folder")


@pytest.mark.parametrize("restart", [True, False])
def test_reproduce_never_empties_or_fills_a_user_folder(tmp_path, capsys, restart):
    home = _user_folder(tmp_path / "myhome")
    before = _tree(home)
    code = main(["reproduce", "--preset", "smoke", "--quiet", "--out", str(home), *(["--restart"] if restart else [])])
    _one_line(capsys, code, *(["is not a run folder", "--restart empties only a folder bertdistil wrote"] if restart
                              else ["is not empty", "was not written by bertdistil"]))
    assert _tree(home) == before and sorted(p.name for p in home.iterdir()) == ["photos", "thesis.txt"]


def test_restart_empties_a_run_folder_but_its_bookkeeping(tmp_path):
    from bertdistil.runfolder.ownership import OWNER_FILE, empty_folder, writing
    out = tmp_path / "run"
    with writing(out, "run"):
        (out / "student").mkdir()
        (out / "results.json").write_text("{}")
        empty_folder(out)
        assert sorted(p.name for p in out.iterdir()) == sorted([LOCK, OWNER_FILE])
    with pytest.raises(BertdistilError, match="not a run folder"):
        empty_folder(_user_folder(tmp_path / "mine"))


def _held_lock(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / LOCK).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(),
                                        "started": "2026-12-03 10:00:00", "command": "bertdistil finetune"}))


@pytest.mark.parametrize("command", ["finetune", "compress", "export", "init-student", "bench"])
def test_every_writer_refuses_a_folder_another_process_writes(tmp_path, ft, ut, tiny_bert_dir, capsys, command):
    out = tmp_path / "out"
    _held_lock(out)
    argv = {"finetune": ["finetune", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--task", "mine",
                         "--train", str(ut / "train.tsv"), "--dev", str(ut / "dev.tsv")],
            "compress": ["compress", "--preset", "smoke", "--quiet", "--model", str(ft)],
            "export": ["export", "--format", "ort", "--model", str(ft)],
            "init-student": ["init-student", "--teacher", str(tiny_bert_dir)],
            "bench": ["bench", "--models", f"s={ft}", "--max-pairs", "2"]}[command]
    code = main([*argv, "--out", str(out)])
    _one_line(capsys, code, f"in use by process {os.getppid()}")
    assert sorted(p.name for p in out.iterdir()) == [LOCK]


def test_two_teacher_preparations_on_a_fresh_cache_share_one_result(tmp_path, tiny_bert_no_head_dir):
    env = {**os.environ, "BERTDISTIL_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "bertdistil.cli", "prepare-teacher", "--preset", "smoke", "--quiet", "--teacher",
           str(tiny_bert_no_head_dir)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    dirs = {json.loads(o)["dir"] for o, _ in outs}
    assert len(dirs) == 1
    log = Path(dirs.pop()).parent / "log.jsonl"
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == sorted(set(steps))                      # one training, no repeated rows


# --- silent nonsense --------------------------------------------------------------------------------------------

def test_predict_and_evaluate_refuse_a_model_that_was_never_fine_tuned(tmp_path, ut, tiny_bert_dir, capsys):
    pred = tmp_path / "p.tsv"
    for argv in (["predict", "--model", str(tiny_bert_dir), "--task", "SST-2", "--input", str(ut / "test.tsv"),
                  "--output", str(pred)],
                 ["predict", "--model", str(tiny_bert_dir), "--input", str(ut / "test.tsv"), "--output", str(pred)],
                 ["evaluate", "--preset", "smoke", "--model", str(tiny_bert_dir), "--task", "SST-2"]):
        _one_line(capsys, main(argv), "is not a fine-tuned classifier", "classifier weights missing",
                  "bertdistil finetune")
    assert not pred.exists()


def test_export_and_compress_refuse_a_model_that_was_never_fine_tuned(tmp_path, tiny_bert_dir, capsys):
    for argv in (["export", "--format", "ort", "--model", str(tiny_bert_dir), "--out", str(tmp_path / "e")],
                 ["compress", "--preset", "smoke", "--model", str(tiny_bert_dir), "--out", str(tmp_path / "c")]):
        _one_line(capsys, main(argv), "is not a fine-tuned classifier")
    assert list(tmp_path.iterdir()) == []                    # no folder left behind


def test_evaluate_mlm_refuses_a_model_without_mlm_head(shipped_teacher, ft, capsys):
    for model in (shipped_teacher, ft):
        code = main(["evaluate-mlm", "--preset", "smoke", "--quiet", "--model", str(model)])
        _one_line(capsys, code, "has no MLM head", "prepare-teacher")


def test_a_single_class_train_file_is_named(tmp_path, ut, tiny_bert_dir, capsys):
    for dev in ("dev_oneclass.tsv", "dev.tsv"):
        code = main(["finetune", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--task", "mine",
                     "--train", str(ut / "train_oneclass.tsv"), "--dev", str(ut / dev), "--out", str(tmp_path / "o")])
        err = _one_line(capsys, code, "train_oneclass.tsv", "every train label is '1'", "at least 2 classes")
        assert dev not in err
    assert not (tmp_path / "o").exists()


@pytest.fixture
def root_without_mrpc(tmp_path, data_root):
    """The data root with glue/MRPC left out (symlinks to everything else)."""
    dd = tmp_path / "dd_nomrpc"
    (dd / "glue").mkdir(parents=True)
    for p in data_root.iterdir():
        if p.name != "glue":
            (dd / p.name).symlink_to(p)
    for p in (data_root / "glue").iterdir():
        if p.name.lower() != "mrpc":
            (dd / "glue" / p.name).symlink_to(p)
    return dd


def test_a_configured_task_missing_from_the_data_root_is_skipped_with_its_reason(tmp_path, root_without_mrpc, capsys):
    from bertdistil.downstream.protocol import run_downstream
    from bertdistil.report.downstream_tables import downstream_section
    cfg = load_preset("smoke", ['finetune.tasks=["MRPC"]', "finetune.extra_tasks=[]", "finetune.squad=false"])
    ds = run_downstream(tmp_path / "run", cfg, root_without_mrpc, progress=False)
    expected = (f"MRPC: no train split under {root_without_mrpc}/glue/MRPC (or {root_without_mrpc}/glue/mrpc): "
                "check the layout")
    err = _err(capsys)
    assert f"bertdistil: {expected}" in err and "(README: Benchmark data): skipped" in err
    assert ds["glue"]["MRPC"]["available"] is False and ds["glue"]["MRPC"]["reason"].startswith(expected)
    text = "\n".join(downstream_section({"downstream": ds, "data": {"root": str(root_without_mrpc)}}, tmp_path))
    assert "MRPC: no train split under glue/MRPC (or glue/mrpc)" in text
    assert "MNLI and QQP are absent" not in text


def test_missing_task_data_names_the_folder_searched(tmp_path, root_without_mrpc, ft, capsys):
    code = main(["finetune", "--preset", "smoke", "--quiet", "--model", str(ft), "--task", "MRPC", "--data-dir",
                 str(root_without_mrpc), "--out", str(tmp_path / "d02")])
    err = _one_line(capsys, code, f"MRPC: no train split under {root_without_mrpc}/glue/MRPC", "check the layout")
    assert "pass --data-dir" not in err and not (tmp_path / "d02").exists()


def test_resumed_log_rows_equal_an_uninterrupted_run(tmp_path, tiny_bert_dir, tokenizer):
    """checkpoint_every (3) not a multiple of log_every (2): the record open at the checkpoint continues."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join(f"Sentence {i} tells of a river, a town and {i % 9} boats." for i in range(200)))
    ds = prepare_corpus([str(corpus)], tokenizer, 32, tmp_path / "cache")
    masker = Masker(MaskingConfig(), ds.counts, sorted(set(tokenizer.all_special_ids)), tokenizer.mask_token_id)
    loss = LossConfig(alpha_ce=0, alpha_mlm=1, alpha_cos=0)
    oc = OptimConfig(lr=1e-3, batch_size=8, gradient_accumulation_steps=1, max_steps=8, log_every=2,
                     checkpoint_every=3, eval_every=4)

    def run(out, eval_fn=None):
        return train(load_masked_lm(tiny_bert_dir)[0], None, tokenizer, ds, masker, out,
                     TrainOptions(loss, oc, seed=0, bf16=False, progress=False, cpu_kernels=False, eval_fn=eval_fn))

    def kill_at_4(student):
        raise KeyboardInterrupt
    run(tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", eval_fn=kill_at_4)               # stops at step 4, after the checkpoint at step 3
    assert torch.load(tmp_path / "b" / CHECKPOINT, weights_only=True)["step"] == 3
    run(tmp_path / "b")

    def rows(out):
        return [(r["step"], r["loss"], r["terms"], r["tokens_seen"])
                for r in map(json.loads, (out / "log.jsonl").read_text().splitlines())]
    assert [r[0] for r in rows(tmp_path / "b")] == [2, 4, 6, 8]
    assert rows(tmp_path / "a") == rows(tmp_path / "b")
