"""The downstream protocol's pieces: train hold-out selection, seed statistics, the majority baseline,
zero-shot STS-B — hand-computed values and real data."""
import numpy as np
import pytest

from bertdistil.data.tasks import TaskSpec, heldout_split
from bertdistil.downstream.protocol import glue_scores, majority_baseline
from bertdistil.evaluation import seedstats


def test_heldout_split_is_a_fixed_partition():
    ex = [(f"s{i}", None, i % 2) for i in range(100)]
    train, held = heldout_split(ex, 0.1)
    assert len(held) == 10 and len(train) == 90
    assert sorted(train + held) == sorted(ex)                      # a partition
    assert train == sorted(train, key=ex.index)                    # original order kept
    assert heldout_split(ex, 0.1) == (train, held)                 # same split every time: seed 0
    assert heldout_split(ex, 0.1, seed=1)[1] != held
    assert heldout_split(ex, 0.0) == (ex, [])
    assert len(heldout_split(ex[:5], 0.1)[1]) == 1                 # at least one held out
    with pytest.raises(ValueError):
        heldout_split(ex, 1.0)


def test_seed_summary_compare_and_retention_hand_values():
    s = seedstats.summary([70.0, 72.0, 71.0])
    assert s == {"median": 71.0, "min": 70.0, "max": 72.0, "spread": 2.0, "n": 3}
    c = seedstats.compare([74.0, 75.0, 76.0], [70.0, 71.0, 73.0])
    assert c["difference"] == pytest.approx(4.0) and c["spread"] == pytest.approx(3.0) and c["exceeds"]
    assert not seedstats.compare([74.0, 75.0, 76.0], [72.0, 71.0, 76.0])["exceeds"]   # 4 < spread 5
    r = seedstats.retention([45.0, 48.0, 50.0], [50.0, 52.0, 60.0])
    assert r["median"] == pytest.approx(100 * 48 / 52)
    assert r["min"] == pytest.approx(75.0) and r["max"] == pytest.approx(100.0)
    with pytest.raises(ValueError):
        seedstats.summary([])


def test_macro_per_seed_averages_tasks_seed_by_seed():
    assert seedstats.macro_per_seed({"A": [10.0, 20.0], "B": [30.0, 40.0]}) == [20.0, 30.0]
    assert seedstats.macro_per_seed({"A": [10.0, 20.0], "B": [50.0]}) == [30.0, 35.0]   # a seed-free row
    with pytest.raises(ValueError):
        seedstats.macro_per_seed({"A": [1.0, 2.0], "B": [1.0, 2.0, 3.0]})


def test_majority_baseline_classification_and_regression():
    cls = TaskSpec("T", "a", "y", labels=["0", "1"], metrics=("accuracy", "f1"))
    train = [("x", None, 1), ("x", None, 1), ("x", None, 0)]
    dev = [("x", None, 1), ("x", None, 0), ("x", None, 0), ("x", None, 1)]
    m = majority_baseline(cls, train, dev)
    assert m["accuracy"] == pytest.approx(50.0)
    assert m["f1"] == pytest.approx(100 * 2 * 0.5 * 1 / 1.5)       # precision 0.5, recall 1
    reg = TaskSpec("R", "a", "y", labels=None, metrics=("pearson",))
    dev = [("x", None, i % 6 * 1.0) for i in range(1500)]
    # a constant prediction whose float std is not exactly 0 (4e-16 here): correlation 0, never NaN
    assert majority_baseline(reg, [("x", None, 2.7011111)] * 2, dev)["pearson"] == 0.0


def test_glue_scores_retention_uses_the_better_teacher_and_flags_noise():
    tasks = {"A": TaskSpec("A", "a", "y", labels=["0", "1"]), "B": TaskSpec("B", "a", "y", labels=["0", "1"])}

    def row(*v):
        return {"accuracy": float(np.median(v)), "seeds": {"accuracy": list(v)}}
    glue = {"A": {"teacher": row(80, 82, 84), "teacher_original": row(90, 90, 90), "truncated": row(70, 71, 72),
                  "student": row(80, 81, 82), "majority": row(50)},
            "B": {"teacher": row(60, 60, 60), "teacher_original": row(70, 70, 70), "truncated": row(60, 61, 62),
                  "student": row(60, 61, 62), "majority": row(50)},
            "C": {"available": False}}
    s = glue_scores(glue, tasks)
    assert s["macro"]["student"] == pytest.approx(71.0) and s["macro"]["majority"] == pytest.approx(50.0)
    assert s["retention"]["reference"] == "teacher_original"
    assert s["retention"]["student"] == pytest.approx(100 * 71 / 80)
    c = s["comparisons"]["student vs truncated"]
    assert c["difference"] == pytest.approx(5.0) and c["spread"] == pytest.approx(2.0) and c["exceeds"]


def test_zero_shot_stsb_of_the_shipped_teacher(shipped_teacher, data_root, tiny_bert_dir):
    """all-MiniLM-L6-v2 was trained for this (its card reports ~82 Spearman on STS-B): far above a random
    4-layer BERT, whose mean-pooled embeddings carry little of the sentences' meaning."""
    from bertdistil.data.tasks import builtin_tasks, load_examples
    from bertdistil.evaluation.zero_shot import embed, sts_zero_shot
    pairs = load_examples(builtin_tasks(data_root)["STS-B"], "dev", 300)
    teacher = sts_zero_shot(shipped_teacher, pairs)
    assert teacher["pairs"] == 300 and 70 < teacher["spearman"] < 95
    assert sts_zero_shot(tiny_bert_dir, pairs)["spearman"] < teacher["spearman"] - 20
    e = embed(shipped_teacher, ["a short one", "a somewhat longer sentence than the first one", "mid length"])
    assert e.shape == (3, 384) and e.dtype == np.float32
    single = embed(shipped_teacher, ["mid length"])
    np.testing.assert_allclose(e[2], single[0], atol=1e-4)        # order restored after sorting by length


def test_finetune_keeps_the_best_epoch_on_the_heldout_slice(tiny_bert_dir, data_root):
    from bertdistil.config import FinetuneConfig
    from bertdistil.data.tasks import builtin_tasks, load_examples
    from bertdistil.downstream.finetune import FitOptions, score, train_classifier
    spec = builtin_tasks(data_root)["SST-2"]
    train, held = heldout_split(load_examples(spec, "train", 80), 0.25)
    dev = load_examples(spec, "dev", 24)
    fc = FinetuneConfig(epochs=3, batch_size=16, lr=3e-4, max_seq_len=32)
    res, model, tok = train_classifier(tiny_bert_dir, spec, train, dev, fc, FitOptions(bf16=False, progress=False),
                                       heldout_ex=held)
    assert len(res["heldout"]) == 3 and res["heldout_examples"] == 20
    best = max(range(3), key=lambda i: (res["heldout"][i], -i))       # first epoch reaching the best score
    assert res["best_epoch"] == best + 1
    assert score(model, tok, spec, held, 32, bf16=False)["accuracy"] == pytest.approx(res["heldout"][best], abs=1e-3)
    assert score(model, tok, spec, dev, 32, bf16=False)["accuracy"] == pytest.approx(res["accuracy"])


def test_learning_curve_from_the_committed_gpu_runs(tmp_path):
    """results/learning_curve/budgets: three reproduce runs at 340/1400/3500 distillation steps (GPU study)."""
    from pathlib import Path

    from bertdistil.report.curve import learning_curve, plot_curve
    runs = sorted((Path(__file__).parents[2] / "results" / "learning_curve" / "budgets").iterdir())
    curve = learning_curve(runs, None)
    tokens = [p["tokens"]["student"] for p in curve["points"]]
    assert tokens == sorted(tokens) and tokens[0] > 2e6 and tokens[-1] > 2e7
    assert {"teacher", "teacher_original", "truncated"} <= set(curve["references"])
    assert all({"student", "mlm_only"} <= set(p["macro"]) for p in curve["points"])
    plot_curve(curve, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 10_000


def test_goal_checks_on_the_committed_gpu_run():
    """The run's goals read from a real results.json (results/learning_curve/budgets/b340): what holds there."""
    import json
    from pathlib import Path

    from bertdistil.report.goals import goal_checks, goal_lines
    r = json.loads((Path(__file__).parents[2] / "results/learning_curve/budgets/b340/results.json").read_text())
    checks = {c["goal"]: c for c in goal_checks(r)}
    beats = [c for g, c in checks.items() if g.startswith("student Score >")]
    assert [c["holds"] for c in beats] == [False, False]
    assert "+0.95" in beats[0]["evidence"] and "5.47" in beats[0]["evidence"]
    ret = checks["student retention ≥ 95%"]
    assert ret["holds"] is False and ret["evidence"].startswith("91.6% of teacher_original")
    majority = checks["every task's teacher clearly above the majority class"]
    assert majority["holds"] is False and "WNLI 42.3 vs 56.3 (not clear)" in majority["evidence"]
    assert "SST-2 86.8 vs 50.9;" in majority["evidence"]          # clear: no "(not clear)" after it
    assert checks["whole run ≤ 150 min"]["holds"] is None          # resumed GPU runs: not a timing
    r["downstream"]["retention"]["student"] = 96.0
    r["downstream"]["comparisons"]["student vs mlm_only"] = {"difference": 3.0, "spread": 2.0, "exceeds": True}
    checks = {c["goal"]: c["holds"] for c in goal_checks(r)}
    assert checks["student retention ≥ 95%"] and checks["student Score > MLM-only control's, beyond seed spread"]
    assert len(goal_lines(r)) == 2 + len(checks)


def test_teacher_row_is_named_for_what_was_fine_tuned():
    """With teacher_head_only the fine-tuned teacher is the original checkpoint, and the tables say so."""
    from bertdistil.report.downstream_tables import ROWS, row_labels
    assert row_labels({"config": {"teacher_head_only": True}})["teacher"].startswith("teacher (original checkpoint")
    assert row_labels({"config": {"teacher_head_only": False}}) == ROWS == row_labels({})
