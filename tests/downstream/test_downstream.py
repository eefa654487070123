"""Downstream: metrics, SQuAD normalisation, task loaders, one smoke fine-tune per task type, predict."""
import json
import math

import numpy as np
import pytest

from bertdistil.cli.parser import main
from bertdistil.config import load_preset
from bertdistil.data.tasks import builtin_tasks, load_examples, load_split
from bertdistil.data.user_task import user_task
from bertdistil.downstream.finetune import FitOptions, train_classifier
from bertdistil.errors import BertdistilError
from bertdistil.evaluation.metrics import normalize_answer, squad_scores, task_metrics


def test_classification_and_regression_metrics_known_values():
    preds, gold = np.array([1, 1, 0, 0, 1]), np.array([1, 0, 0, 0, 1])
    tp, fp, tn, fn = 2, 1, 2, 0
    mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    m = task_metrics(("accuracy", "f1", "mcc"), preds, gold)
    assert m["accuracy"] == pytest.approx(80.0)
    assert m["f1"] == pytest.approx(100 * 2 * tp / (2 * tp + fp + fn))
    assert m["mcc"] == pytest.approx(100 * mcc)
    r = task_metrics(("pearson", "spearman"), np.array([1.0, 2.0, 3.0, 5.0]), np.array([2.0, 4.0, 6.0, 8.0]))
    x, y = np.array([1.0, 2, 3, 5]), np.array([2.0, 4, 6, 8])
    dx, dy = x - x.mean(), y - y.mean()
    pearson = (dx * dy).sum() / math.sqrt((dx ** 2).sum() * (dy ** 2).sum())
    assert r["pearson"] == pytest.approx(100 * pearson) and r["spearman"] == pytest.approx(100.0)


def test_squad_normalisation_official_rules():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    s = squad_scores({"q1": "the Denver Broncos", "q2": "Santa Clara, California", "q3": "1990s"},
                     {"q1": ["Denver Broncos"], "q2": ["Levi's Stadium", "Santa Clara"], "q3": ["the 2000s"]})
    # q1 exact; q2 F1 = max(0, 2·(2/3·1)/(2/3+1)) = 0.8; q3 no overlap
    assert s["exact_match"] == pytest.approx(100 / 3)
    assert s["f1"] == pytest.approx(100 * (1 + 0.8 + 0) / 3)


@pytest.mark.parametrize("name", ["CoLA", "SST-2", "MRPC", "STS-B", "RTE", "WNLI", "QNLI", "IMDb"])
def test_real_files_load_with_their_headers(name, data_root):
    spec = builtin_tasks(data_root)[name]
    assert spec.files, f"{name}: no files found under {data_root}"
    for split in spec.files:
        labelled = split != "test"
        ex = load_examples(spec, split, 200)
        assert len(ex) == 200 or name == "WNLI" and split == "dev"
        assert all(a.strip() for a, _, _ in ex)
        assert all((b is not None) == (spec.text_b is not None) for _, b, _ in ex)
        if labelled and spec.is_regression:
            assert all(0.0 <= y <= 5.0 for _, _, y in ex)
        elif labelled:
            assert {y for _, _, y in ex} <= set(range(spec.num_labels))


def test_full_split_sizes_match_sources(data_root):
    t = builtin_tasks(data_root)
    assert len(load_split(t["MRPC"], t["MRPC"].files["dev"])) == 408
    assert len(load_split(t["STS-B"], t["STS-B"].files["test"], labelled=False)) == 1379
    assert len(load_split(t["CoLA"], t["CoLA"].files["dev"])) == 1043
    assert len(load_split(t["RTE"], t["RTE"].files["train"])) == 2490


def test_malformed_rows_name_file_and_line(tmp_path):
    spec = builtin_tasks(None)["RTE"]
    f = tmp_path / "rte.tsv"
    f.write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tonly two\n")
    with pytest.raises(BertdistilError, match=r"rte.tsv:3: expected 4 tab-separated columns"):
        load_split(spec, f)
    f.write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(BertdistilError, match=r"rte.tsv:2: label 'maybe' is not one of"):
        load_split(spec, f)
    g = tmp_path / "stsb.tsv"
    g.write_text("sentence1\tsentence2\tscore\nx\ty\thigh\n")
    with pytest.raises(BertdistilError, match="stsb.tsv:2: score 'high' is not a number"):
        load_split(builtin_tasks(None)["STS-B"], g)


def test_user_task_formats(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_text("sentence\tlabel\ngood film\tpos\nbad film\tneg\n")
    spec = user_task("mine", str(tsv), str(tsv))
    assert spec.labels == ["neg", "pos"] and load_split(spec, tsv)[0] == ("good film", None, 1)
    csv = tmp_path / "t.csv"
    csv.write_text('sentence1,sentence2,score\n"a, b",c,0.5\nd,e,4.2\n')
    spec = user_task("sim", str(csv), str(csv))
    assert spec.is_regression and load_split(spec, csv)[0] == ("a, b", "c", 0.5)
    jl = tmp_path / "t.jsonl"
    jl.write_text(json.dumps({"text": "hi", "label": 1}) + "\n" + json.dumps({"text": "yo", "label": 0}) + "\n")
    spec = user_task("j", str(jl), str(jl))
    assert spec.labels == ["0", "1"] and load_split(spec, jl)[1] == ("yo", None, 0)


@pytest.mark.parametrize("name", ["SST-2", "MRPC", "STS-B"])
def test_smoke_finetune_each_task_type(name, tiny_bert_dir, data_root):
    cfg = load_preset("smoke").finetune
    spec = builtin_tasks(data_root)[name]
    train = load_examples(spec, "train", 48)
    dev = load_examples(spec, "dev", 40)
    res, model, tok = train_classifier(tiny_bert_dir, spec, train, dev, cfg, FitOptions(progress=False))
    for m in spec.metrics:
        assert -100.0 <= res[m] <= 100.0
    assert res["train_examples"] == 48 and res["dev_examples"] == 40
    # task distillation from a "teacher" output table runs and changes the result
    t_out = np.random.default_rng(0).normal(size=(48, spec.num_labels)).astype(np.float32)
    res_d, _, _ = train_classifier(tiny_bert_dir, spec, train, dev, cfg, FitOptions(progress=False), t_out)
    assert res_d["task_distillation"] is True


def test_squad_split_and_span_finetune(tiny_bert_dir, data_root):
    from bertdistil.data.benchmark_root import squad_files
    from bertdistil.downstream.squad import article_split, finetune_squad, flatten, load_squad
    arts = load_squad(squad_files(data_root))
    assert sum(len(p["qas"]) for a in arts for p in a["paragraphs"]) == 10570
    tr, ev = article_split(arts, 0.8, seed=0)
    assert len(tr) + len(ev) == 48 and not {a["title"] for a in tr} & {a["title"] for a in ev}
    assert article_split(arts, 0.8, seed=0)[1][0]["title"] == ev[0]["title"]
    cfg = load_preset("smoke").finetune
    res, _, feats = finetune_squad(tiny_bert_dir, flatten(tr, 24), flatten(ev, 16), cfg, FitOptions(progress=False))
    assert 0 <= res["exact_match"] <= res["f1"] <= 100 and res["eval_questions"] == 16
    # the labelled answer span decodes back to the answer text for windows that contain it
    assert (feats["start_positions"] > 0).any()


@pytest.mark.parametrize("task,test_rows", [("MRPC", 1725), ("STS-B", 1379)])
def test_predict_writes_one_row_per_test_example(task, test_rows, tiny_bert_dir, tmp_path, data_root):
    out = tmp_path / "ft"
    assert main(["finetune", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--task", task,
                 "--out", str(out), "--max-train-examples", "48", "--max-eval-examples", "48"]) == 0
    spec = builtin_tasks(data_root)[task]
    pred = tmp_path / "pred.tsv"
    assert main(["predict", "--model", str(out), "--task", task, "--input", str(spec.files["test"][0]),
                 "--output", str(pred)]) == 0
    lines = pred.read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == test_rows + 1
    if task == "MRPC":
        assert {line.split("\t")[1] for line in lines[1:]} <= {"0", "1"}
    else:
        float(lines[1].split("\t")[1])
