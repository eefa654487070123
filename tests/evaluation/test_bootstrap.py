"""Masked-LM uncertainty: per-sequence results that add up to the aggregate, bootstrap intervals, the paired
difference of two models on the same targets."""
import gzip

import numpy as np
import pytest
import torch

from bertdistil.data.corpus import prepare_corpus
from bertdistil.data.shipped import shipped_data_dir
from bertdistil.evaluation import bootstrap
from bertdistil.evaluation.mlm import EvalSet, score_mlm
from bertdistil.models.loading import load_masked_lm


def test_interval_is_degenerate_when_every_sequence_agrees():
    per = {"correct": [1, 2, 3], "nll": [0.5, 1.0, 1.5], "targets": [2, 4, 6]}     # 50% and 0.25 nats each
    iv = bootstrap.interval(per)
    assert iv["accuracy"] == pytest.approx([50.0, 50.0]) and iv["perplexity"] == pytest.approx([np.exp(0.25)] * 2)
    with pytest.raises(ValueError):
        bootstrap.interval({"correct": [], "nll": [], "targets": []})


def test_paired_difference_detects_a_real_gap_and_not_a_tie():
    rng = np.random.default_rng(0)
    targets = rng.integers(5, 20, 300)
    a = {"correct": (targets * 0.6).round().tolist(), "nll": (targets * 2.0).tolist(), "targets": targets.tolist()}
    b = {"correct": (targets * 0.3).round().tolist(), "nll": (targets * 2.5).tolist(), "targets": targets.tolist()}
    d = bootstrap.paired_difference(a, b)
    assert d["accuracy"] == pytest.approx(100 * (sum(a["correct"]) - sum(b["correct"])) / targets.sum())
    assert d["accuracy_exceeds"] and d["accuracy_interval"][0] > 20
    assert d["perplexity_ratio"] == pytest.approx(np.exp(-0.5)) and d["perplexity_exceeds"]
    tie = bootstrap.paired_difference(a, a)
    assert tie["accuracy_interval"] == [0.0, 0.0] and not tie["accuracy_exceeds"] and not tie["perplexity_exceeds"]
    noisy = {**a, "correct": (np.array(a["correct"]) + rng.integers(-1, 2, 300)).clip(0).tolist()}
    assert not bootstrap.paired_difference(noisy, a)["accuracy_exceeds"]          # ±1 per sequence: noise
    with pytest.raises(ValueError, match="same sequences"):
        bootstrap.paired_difference(a, {**b, "targets": (targets + 1).tolist()})


def test_per_sequence_results_add_up_to_the_aggregate(tmp_path, tokenizer, tiny_bert_dir):
    text = tmp_path / "eval.txt"
    with gzip.open(shipped_data_dir() / "corpus" / "sotu.txt.gz", "rt") as f:
        lines = f.read().splitlines()[:200]
    text.write_text("\n".join(lines))
    ds = prepare_corpus([str(text)], tokenizer, 64, tmp_path / "cache", progress=False)
    es = EvalSet(ds, tokenizer.all_special_ids, tokenizer.mask_token_id, max_tokens=3000)
    model, _ = load_masked_lm(tiny_bert_dir)
    torch.manual_seed(0)
    r = score_mlm(model, es, tokenizer.pad_token_id, batch_size=7, progress=False, per_sequence=True)
    per = r["per_sequence"]
    assert len(per["targets"]) == es.n and sum(per["targets"]) == r["targets"] == es.n_targets
    assert sum(per["correct"]) / r["targets"] == pytest.approx(r["accuracy"])
    assert np.exp(sum(per["nll"]) / r["targets"]) == pytest.approx(r["perplexity"], rel=1e-4)
    other = score_mlm(model, es, tokenizer.pad_token_id, batch_size=64, progress=False, per_sequence=True)
    assert other["per_sequence"]["targets"] == per["targets"]          # the same targets whatever the batch size
    mlm, diffs = bootstrap.mlm_uncertainty({"student": r, "mlm_only": other, "old": {"accuracy": 0.1}})
    assert "per_sequence" not in mlm["student"] and "interval" in mlm["student"] and "interval" not in mlm["old"]
    assert set(diffs) == {"mlm_only"} and abs(diffs["mlm_only"]["accuracy"]) < 1e-6


def test_evaluate_mlm_command_out_and_against(tmp_path, tiny_bert_dir, capsys, monkeypatch):
    import json

    from bertdistil.cli.parser import main
    monkeypatch.delenv("BERTDISTIL_DATA", raising=False)             # the corpus's held-out split: fast
    first = tmp_path / "a.json"
    assert main(["evaluate-mlm", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--out",
                 str(first)]) == 0
    saved = json.loads(first.read_text())
    assert len(saved["per_sequence"]["targets"]) == saved["interval"]["sequences"] > 0
    lo, hi = saved["interval"]["accuracy"]
    assert lo <= 100 * saved["accuracy"] <= hi
    capsys.readouterr()
    assert main(["evaluate-mlm", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--against",
                 str(first)]) == 0
    shown = json.loads(capsys.readouterr().out)
    d = shown[f"minus {first}"]
    assert d["accuracy"] == 0.0 and not d["accuracy_exceeds"]      # the same model on the same targets
    first.write_text("{}")
    assert main(["evaluate-mlm", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--against",
                 str(first)]) == 2
    assert "not an evaluate-mlm --out file" in capsys.readouterr().err
