"""A user's own task from TSV / parquet / save_to_disk files: fine-tune, then evaluate and predict by the
task recorded in the model directory; bad files are one-line errors (exit 2)."""
import json

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from bertdistil.cli.parser import main
from bertdistil.data.user_task import load_task, user_task

ROWS = {"text": [f"{w} film number {i}" for i, w in enumerate(["good", "bad"] * 24)],
        "label": [1, 0] * 24}


def _parquet(tmp_path):
    feats = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    ds = Dataset.from_dict(ROWS, features=feats)
    ds.to_parquet(str(tmp_path / "train.parquet"))
    ds.select(range(16)).to_parquet(str(tmp_path / "dev.parquet"))
    DatasetDict({"train": ds, "validation": ds.select(range(16))}).save_to_disk(str(tmp_path / "disk"))
    return tmp_path / "train.parquet", tmp_path / "dev.parquet"


def test_user_task_from_parquet_and_save_to_disk(tmp_path):
    train, dev = _parquet(tmp_path)
    spec = user_task("mine", train, dev)
    assert spec.labels == ["neg", "pos"] and spec.text_a == "text" and spec.metrics == ("accuracy", "f1")
    disk = user_task("mine", tmp_path / "disk", tmp_path / "disk")
    assert disk.files["train"] == [tmp_path / "disk" / "train"]
    assert disk.files["dev"] == [tmp_path / "disk" / "validation"]


def test_finetune_evaluate_predict_a_recorded_user_task(tmp_path, tiny_bert_dir, capsys):
    train, dev = _parquet(tmp_path)
    out = tmp_path / "ft"
    assert main(["finetune", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--task", "mine",
                 "--train", str(train), "--dev", str(dev), "--out", str(out)]) == 0
    assert load_task(out).name == "mine"
    assert json.loads((out / "config.json").read_text())["id2label"] == {"0": "neg", "1": "pos"}
    capsys.readouterr()
    assert main(["evaluate", "--preset", "smoke", "--model", str(out)]) == 0          # no --task: the recorded one
    res = json.loads(capsys.readouterr().out)
    assert res["task"] == "mine" and res["examples"] == 16 and 0 <= res["accuracy"] <= 100
    assert main(["evaluate", "--preset", "smoke", "--model", str(out), "--task", "mine"]) == 0
    pred = tmp_path / "pred.tsv"
    assert main(["predict", "--model", str(out), "--input", str(dev), "--output", str(pred)]) == 0
    lines = pred.read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == 17
    assert {x.split("\t")[1] for x in lines[1:]} <= {"neg", "pos"}


def test_tsv_user_task_evaluates_by_name(tmp_path, tiny_bert_dir, capsys):
    f = tmp_path / "t.tsv"
    f.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(ROWS["text"], ROWS["label"])))
    out = tmp_path / "ft"
    assert main(["finetune", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--task", "mine",
                 "--train", str(f), "--dev", str(f), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--preset", "smoke", "--model", str(out), "--task", "mine"]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == 48


@pytest.mark.parametrize("content,needle", [(b"sentence\tlabel\ncaf\xe9\t1\n", "not UTF-8"), (None, "not found")])
def test_bad_user_files_are_one_line_errors(tmp_path, tiny_bert_dir, capsys, content, needle):
    f = tmp_path / "t.tsv"
    if content is not None:
        f.write_bytes(content)
    code = main(["finetune", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--task", "mine",
                 "--train", str(f), "--dev", str(f), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and "t.tsv" in err and len(err.splitlines()) == 1
