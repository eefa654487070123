"""Benchmark data from a data root in three layouts — GLUE TSV / JSON, hub parquet, datasets save_to_disk —
gives the same examples and the same metric values for every task type (single sentence, pair, regression,
span). The hub versions are built here from the shared files with the hub's column names and label order,
independently of bertdistil's loaders."""
import csv
import gzip
import io
import json
import shutil

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, Sequence, Value

from bertdistil.cli.parser import main
from bertdistil.data.benchmark_root import find_split, resolve_data_root, squad_files
from bertdistil.data.tasks import builtin_tasks, load_examples
from bertdistil.downstream.squad import flatten, load_squad
from bertdistil.errors import BertdistilError
from bertdistil.evaluation.metrics import squad_scores

N = 40   # rows per split in the small roots
# task: (GLUE folder, hub config, TSV header?, {hub column: TSV column}, label column, hub label names | None)
TASKS = {
    "CoLA": ("CoLA", "cola", False, {"sentence": 3}, 1, ["unacceptable", "acceptable"]),
    "SST-2": ("SST-2", "sst2", True, {"sentence": "sentence"}, "label", ["negative", "positive"]),
    "MRPC": ("MRPC", "mrpc", True, {"sentence1": "#1 String", "sentence2": "#2 String"}, "Quality",
             ["not_equivalent", "equivalent"]),
    "RTE": ("RTE", "rte", True, {"sentence1": "sentence1", "sentence2": "sentence2"}, "label",
            ["entailment", "not_entailment"]),
    "STS-B": ("STS-B", "stsb", True, {"sentence1": "sentence1", "sentence2": "sentence2"}, "score", None),
}
HUB_TSV_LABEL = {"CoLA": ["0", "1"], "SST-2": ["0", "1"], "MRPC": ["0", "1"], "RTE": ["entailment", "not_entailment"]}


def _tsv_lines(path):
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8-sig")
    return text.splitlines(keepends=True)


def _hub_split(task, lines):
    """The hub's rows for TSV lines: hub column names, ClassLabel indices in the hub's order, idx."""
    _, _, header, cols, label_col, names = TASKS[task]
    reader = csv.reader(io.StringIO("".join(lines)), delimiter="\t", quoting=csv.QUOTE_NONE)
    table = list(reader)
    head, body = (table[0], table[1:]) if header else (None, table)
    col = (lambda r, c: r[head.index(c)]) if header else (lambda r, c: r[c])
    data = {h: [col(r, c) for r in body] for h, c in cols.items()}
    raw = [col(r, label_col) for r in body]
    data["label"] = [float(v) for v in raw] if names is None else [HUB_TSV_LABEL[task].index(v) for v in raw]
    data["idx"] = list(range(len(body)))
    feats = {h: Value("string") for h in cols}
    feats["label"] = Value("float32") if names is None else ClassLabel(names=names)
    feats["idx"] = Value("int32")
    return Dataset.from_dict(data, features=Features(feats))


def _squad_rows(articles):
    rows = {"id": [], "title": [], "context": [], "question": [], "answers": []}
    for a in articles:
        for p in a["paragraphs"]:
            for q in p["qas"]:
                rows["id"].append(q["id"])
                rows["title"].append(a["title"])
                rows["context"].append(p["context"])
                rows["question"].append(q["question"])
                rows["answers"].append({"text": [x["text"] for x in q["answers"]],
                                        "answer_start": [x["answer_start"] for x in q["answers"]]})
    feats = Features({k: Value("string") for k in ("id", "title", "context", "question")} |
                     {"answers": Sequence({"text": Value("string"), "answer_start": Value("int32")})})
    return Dataset.from_dict(rows, features=feats)


@pytest.fixture(scope="module")
def roots(data_root, tmp_path_factory):
    """{layout: root} for tsv (first N rows of the shared files), parquet and disk (the same rows, hub layout)."""
    base = tmp_path_factory.mktemp("roots")
    tsv, parquet, disk = base / "tsv", base / "parquet", base / "disk"
    for task, (folder, config, header, *_rest) in TASKS.items():
        splits = {}
        for split, hub in (("train", "train"), ("dev", "validation")):
            src = find_split([data_root / "glue" / folder], (split,))[0]
            lines = _tsv_lines(src)
            lines = lines[:N + 1] if header else lines[:N]
            (tsv / "glue" / folder).mkdir(parents=True, exist_ok=True)
            (tsv / "glue" / folder / f"{split}.tsv").write_text("".join(lines))
            splits[hub] = _hub_split(task, lines)
            (parquet / "glue" / config).mkdir(parents=True, exist_ok=True)
            splits[hub].to_parquet(str(parquet / "glue" / config / f"{hub}-00000-of-00001.parquet"))
        DatasetDict(splits).save_to_disk(str(disk / "glue" / config))
    articles = load_squad(squad_files(data_root))[:2]
    (tsv / "squad").mkdir(parents=True)
    (tsv / "squad" / "dev-v1.1.json").write_text(json.dumps({"data": articles, "version": "1.1"}))
    (parquet / "squad" / "plain_text").mkdir(parents=True)
    _squad_rows(articles).to_parquet(str(parquet / "squad" / "plain_text" / "validation-00000-of-00001.parquet"))
    DatasetDict({"validation": _squad_rows(articles)}).save_to_disk(str(disk / "squad"))
    return {"tsv": tsv, "parquet": parquet, "disk": disk}


@pytest.mark.parametrize("task", list(TASKS))
def test_every_layout_gives_the_same_examples(task, roots):
    got = {}
    for layout, root in roots.items():
        spec = builtin_tasks(root)[task]
        got[layout] = {split: load_examples(spec, split) for split in ("train", "dev")}
        assert all(len(v) == N for v in got[layout].values()), layout
    for layout in ("parquet", "disk"):
        for split in ("train", "dev"):
            for a, b in zip(got["tsv"][split], got[layout][split]):
                assert a[:2] == b[:2]
                assert a[2] == pytest.approx(b[2], rel=1e-6)    # STS-B: the hub stores float32 scores


def test_squad_layouts_give_the_same_questions_and_scores(roots):
    flat = {k: flatten(load_squad(squad_files(r))) for k, r in roots.items()}
    assert len(flat["tsv"]) > 20 and flat["parquet"] == flat["tsv"] == flat["disk"]
    # the same (naive) predictions score the same against each layout's gold answers
    preds = {q["id"]: " ".join(q["context"].split()[:3]) for q in flat["tsv"]}
    scores = {k: squad_scores(preds, {q["id"]: q["answers"] for q in v}) for k, v in flat.items()}
    assert scores["parquet"] == scores["tsv"] == scores["disk"]


@pytest.mark.parametrize("task", ["SST-2", "MRPC", "STS-B"])
def test_same_metric_values_from_every_layout(task, roots, tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "ft"
    assert main(["finetune", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--task", task,
                 "--data-dir", str(roots["tsv"]), "--out", str(out)]) == 0
    capsys.readouterr()
    scores = {}
    for layout, root in roots.items():
        assert main(["evaluate", "--preset", "smoke", "--model", str(out), "--data-dir", str(root)]) == 0
        scores[layout] = json.loads(capsys.readouterr().out)
    assert scores["tsv"]["examples"] == N
    for metric in builtin_tasks(None)[task].metrics:
        assert scores["parquet"][metric] == pytest.approx(scores["tsv"][metric], abs=1e-4)
        assert scores["disk"][metric] == pytest.approx(scores["tsv"][metric], abs=1e-4)
    config = json.loads((out / "config.json").read_text())
    if task != "STS-B":                       # saved with the hub's label names
        assert list(config["id2label"].values()) == TASKS[task][5]


def test_labels_map_by_name_whatever_the_files_class_order(roots, tmp_path):
    """A parquet file whose ClassLabel lists RTE's classes in another order still gives entailment = 0."""
    src = roots["parquet"] / "glue" / "rte" / "validation-00000-of-00001.parquet"
    ds = Dataset.from_parquet(str(src))
    names = ds.features["label"].names
    flipped = ds.cast_column("label", Value("int64")).map(lambda r: {"label": 1 - r["label"]})
    flipped = flipped.cast_column("label", ClassLabel(names=names[::-1]))
    (tmp_path / "glue" / "rte").mkdir(parents=True)
    flipped.to_parquet(str(tmp_path / "glue" / "rte" / "validation-00000-of-00001.parquet"))
    spec, ref = builtin_tasks(tmp_path)["RTE"], builtin_tasks(roots["tsv"])["RTE"]
    assert load_examples(spec, "dev") == load_examples(ref, "dev")


def test_mnli_and_qqp_hub_files_are_built_in_tasks(tmp_path):
    feats = Features({"premise": Value("string"), "hypothesis": Value("string"),
                      "label": ClassLabel(names=["entailment", "neutral", "contradiction"]), "idx": Value("int32")})
    rows = {"premise": ["a", "b", "c"], "hypothesis": ["x", "y", "z"], "label": [0, 1, 2], "idx": [0, 1, 2]}
    (tmp_path / "glue" / "mnli").mkdir(parents=True)
    for split in ("train", "validation_matched"):
        Dataset.from_dict(rows, features=feats).to_parquet(str(tmp_path / "glue" / "mnli" / f"{split}-0.parquet"))
    spec = builtin_tasks(tmp_path)["MNLI"]
    assert load_examples(spec, "dev") == [("a", "x", 0), ("b", "y", 1), ("c", "z", 2)]
    assert "QQP" in builtin_tasks(tmp_path) and not builtin_tasks(tmp_path)["QQP"].files


def test_imdb_hub_parquet_equals_the_jsonl_files(data_root, tmp_path):
    ref = builtin_tasks(data_root)["IMDb"]
    with gzip.open(ref.files["dev"][0], "rt") as f:
        rows = [json.loads(line) for line in f][:30]
    feats = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    ds = Dataset.from_dict({"text": [r["text"] for r in rows], "label": [r["label"] for r in rows]}, features=feats)
    (tmp_path / "imdb" / "plain_text").mkdir(parents=True)
    for split in ("train", "test"):
        ds.to_parquet(str(tmp_path / "imdb" / "plain_text" / f"{split}-00000-of-00001.parquet"))
    (tmp_path / "jsonl" / "imdb").mkdir(parents=True)
    with gzip.open(tmp_path / "jsonl" / "imdb" / "test-00000-of-00001.jsonl.gz", "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    shutil.copy(tmp_path / "jsonl" / "imdb" / "test-00000-of-00001.jsonl.gz",
                tmp_path / "jsonl" / "imdb" / "train-00000-of-00001.jsonl.gz")
    hub, jsonl = builtin_tasks(tmp_path)["IMDb"], builtin_tasks(tmp_path / "jsonl")["IMDb"]
    assert load_examples(hub, "dev") == load_examples(jsonl, "dev")


def test_capped_splits_are_seeded_random_samples_not_the_first_rows(data_root):
    """IMDb's files are sorted by label: a cap must still hold both classes (the same sample every time)."""
    spec = builtin_tasks(data_root)["IMDb"]
    a, b = load_examples(spec, "train", 48), load_examples(spec, "train", 48)
    assert a == b and {y for *_, y in a} == {0, 1}


def test_no_root_and_bad_root(tmp_path, monkeypatch, capsys, tiny_bert_dir):
    monkeypatch.delenv("BERTDISTIL_DATA", raising=False)
    assert resolve_data_root(None) is None and builtin_tasks(None)["SST-2"].files == {}
    with pytest.raises(BertdistilError, match="not a folder"):
        resolve_data_root(tmp_path / "nope")
    code = main(["finetune", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--task", "SST-2",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--data-dir" in err and len(err.splitlines()) == 1
