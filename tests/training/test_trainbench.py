"""bench-train: the FLOP formula by hand, and a real (tiny) measured step."""
import pytest
from transformers import BertConfig, DistilBertConfig

from bertdistil.config import LossConfig, TrainBenchConfig
from bertdistil.training.throughput import step_flops


def test_step_flops_formula_by_hand():
    t = BertConfig(vocab_size=100, hidden_size=8, num_hidden_layers=2, intermediate_size=16, num_attention_heads=2)
    s = DistilBertConfig(vocab_size=100, dim=8, n_layers=1, hidden_dim=16, n_heads=2)
    B, L, N = 2, 4, 3
    layer = 8 * 8 * 8 + 4 * 8 * 16 + 4 * L * 8            # per token: projections + FFN + attention
    head = 2 * 8 * 8 + 2 * 8 * 100                          # per selected row: transform + vocabulary
    teacher = B * L * 2 * layer + N * head
    student = 3 * (B * L * 1 * layer + N * head)
    f = step_flops(s, t, B, L, N, teacher_head=True)
    assert f["teacher"] == teacher and f["student"] == student and f["total"] == teacher + student
    assert f["vocab_projection_share"] == pytest.approx(4 * N * head / (teacher + student))
    assert step_flops(s, t, B, L, N, teacher_head=False)["teacher"] == B * L * 2 * layer


def test_bench_train_measures_a_real_step(tiny_bert_dir, tokenizer):
    import torch

    from bertdistil.config import MaskingConfig
    from bertdistil.data.corpus import CorpusSpec, prepare_corpus
    from bertdistil.data.shipped import cache_dir, default_corpus
    from bertdistil.models.loading import load_masked_lm
    from bertdistil.models.student import student_from_teacher
    from bertdistil.training.masking import Masker
    from bertdistil.training.throughput import StepSetup, bench_train
    teacher, _ = load_masked_lm(tiny_bert_dir)
    student, _ = student_from_teacher(teacher)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    ds = prepare_corpus(default_corpus(), tokenizer, 32, cache_dir(None), CorpusSpec(max_sequences=200), progress=False)
    masker = Masker(MaskingConfig(), ds.counts, sorted(set(tokenizer.all_special_ids)), tokenizer.mask_token_id)
    rows = bench_train(student, teacher.eval(), ds, masker, StepSetup(LossConfig(restrict_ce_to_mask=True), bf16=True),
                       TrainBenchConfig(seq_lens=[16, 32], batch_size=4, steps=2, warmup_steps=1, matmul_size=64),
                       peak_gflops=100.0)
    assert [r["seq_len"] for r in rows] == [16, 32]
    for r in rows:
        assert r["tokens_per_s"] == pytest.approx(4 * r["seq_len"] / r["step_s"])
        assert r["mfu"] == pytest.approx(r["achieved_gflops"] / 100.0) and r["flops_per_step"] > 0
    assert all(torch.equal(v, student.state_dict()[k]) for k, v in before.items())   # weights restored
    # peak measured between the steps; the profiled step's time shares cover all of it
    cfg = TrainBenchConfig(seq_lens=[16], batch_size=4, steps=2, warmup_steps=1, matmul_size=64)
    (r,) = bench_train(student, teacher, ds, masker, StepSetup(LossConfig()), cfg)
    lo, hi = r["peak_gflops_range"]
    assert 0 < lo <= hi <= r["peak_gflops"] and not r["peak_fixed"]            # the best rate of the window
    # MFU never exceeds 100%: the fastest step is at most the peak; achieved GFLOP/s is reported beside it
    fastest, slowest = r["flops_per_step"] / r["step_s_min"] / 1e9, r["flops_per_step"] / r["step_s_max"] / 1e9
    assert r["mfu_range"] == pytest.approx([slowest / r["peak_gflops"], fastest / r["peak_gflops"]])
    assert 0 < r["mfu_range"][0] <= r["mfu"] <= r["mfu_range"][1] <= 1.0
    assert r["mfu"] == pytest.approx(r["achieved_gflops"] / r["peak_gflops"])
    assert sum(r["time_shares"].values()) == pytest.approx(1.0) and r["time_shares"]["matmul"] > 0
    assert 0 < r["gemm_ceiling_gflops"] <= r["peak_gflops"] and 0 < r["mfu_ceiling"] <= 1.0


def test_one_slow_matmul_timing_cannot_lift_mfu_above_100_percent():
    """The case seen in a real run: interleaved n³ timings of 200–391 GFLOP/s, steps at 300 GFLOP/s."""
    from bertdistil.training.throughput import robust_peak
    peak = robust_peak([200.0, 391.0, 250.0], 380.0, [300.0, 310.0])
    assert peak == 391.0 and 310.0 / peak <= 1.0
    assert robust_peak([200.0], 180.0, [300.0]) == 300.0         # every product slowed: the step bounds it
