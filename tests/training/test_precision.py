"""Precision: which of bf16 / fp16 / fp32 a setting resolves to on which hardware, and the fp16 path of the
distillation loop (loss scaling, overflow steps skipped and counted, the non-finite guard unchanged)."""
import pytest
import torch

from bertdistil import precision
from bertdistil.config import FinetuneConfig, LossConfig, MaskingConfig, OptimConfig, load_preset
from bertdistil.data.corpus import prepare_corpus
from bertdistil.downstream.trainer import FitOptions, training_arguments
from bertdistil.errors import BertdistilError
from bertdistil.models.loading import load_masked_lm
from bertdistil.training.loop import TrainOptions, fit, setup, train, train_step
from bertdistil.training.masking import Masker


@pytest.mark.parametrize("cuda,cuda_bf16,cpu_bf16,device,expected", [
    (True, True, False, "auto", "bf16"),          # Ampere and later
    (True, False, False, "auto", "fp16"),         # T4, V100
    (True, False, True, "cpu", "bf16"),           # a bf16 CPU asked for explicitly
    (True, False, False, "cpu", "fp32"),
    (False, False, False, "auto", "fp32"),
    (False, False, True, "auto", "bf16"),         # AVX512-BF16 / AMX
])
def test_auto_precision_rule(monkeypatch, cuda, cuda_bf16, cpu_bf16, device, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: cuda_bf16)
    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: cpu_bf16)
    assert precision.resolve_precision("auto", device) == expected
    assert precision.resolve_precision("fp16", device) == "fp16"          # an explicit choice is kept


def test_fp16_reaches_the_trainer_on_cuda_only():
    cfg = load_preset("smoke")
    cfg.precision = "fp16"
    assert cfg.fp16 and not cfg.bf16
    assert FitOptions.of(cfg, device="cuda").fp16 and not FitOptions.of(cfg, device="cpu").fp16
    args = training_arguments(FinetuneConfig(), FitOptions(bf16=False, fp16=True), "/tmp/unused")
    assert args.fp16 and not args.bf16


@pytest.fixture(scope="module")
def corpus(tokenizer, tmp_path_factory):
    d = tmp_path_factory.mktemp("corpus16")
    (d / "c.txt").write_text("\n\n".join(f"Line {i} of a story about a mill, a road and {i % 7} carts." for i in
                                         range(120)))
    ds = prepare_corpus([str(d / "c.txt")], tokenizer, 32, d / "cache")
    return ds, Masker(MaskingConfig(), ds.counts, sorted(set(tokenizer.all_special_ids)), tokenizer.mask_token_id)


MLM = LossConfig(alpha_ce=0, alpha_mlm=1, alpha_cos=0)


def _opts(**optim):
    return OptimConfig(**{"lr": 1e-3, "batch_size": 8, "gradient_accumulation_steps": 1, "max_steps": 6,
                          "log_every": 1, **optim})


def test_fp16_steps_scale_the_loss_and_update_the_weights(tiny_bert_dir, tokenizer, corpus):
    ds, masker = corpus
    model, _ = load_masked_lm(tiny_bert_dir)
    run = setup(model, None, tokenizer.pad_token_id, ds, masker, TrainOptions(MLM, _opts(), bf16=False, fp16=True))
    assert run.scaler is not None and run.scaler.get_scale() == 2.0 ** 16
    before = model.get_input_embeddings().weight.detach().clone()
    tries = [train_step(run) for _ in range(20) if run.step < 2]     # the scaler calibrates in the first steps
    assert run.step == 2 and all(t["finite"] != t["overflow"] for t in tries)
    assert run.overflow_steps == sum(t["overflow"] for t in tries) == len(tries) - 2
    assert not torch.equal(before, model.get_input_embeddings().weight)
    assert all(p.dtype == torch.float32 for p in model.parameters())             # fp32 master weights
    with pytest.raises(ValueError, match="exclusive"):
        setup(model, None, tokenizer.pad_token_id, ds, masker, TrainOptions(MLM, _opts(), bf16=True, fp16=True))


def test_overflowing_fp16_steps_are_skipped_and_counted_not_stopped(tiny_bert_dir, tokenizer, corpus, tmp_path):
    ds, masker = corpus
    model, _ = load_masked_lm(tiny_bert_dir)
    run = setup(model, None, tokenizer.pad_token_id, ds, masker, TrainOptions(MLM, _opts(), bf16=False, fp16=True))
    run.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 24)           # the first scaled gradients overflow
    from bertdistil.training.log import TrainLogger
    logger = TrainLogger(tmp_path, run, "fp16", False)
    fit(run, tmp_path, logger)                       # more overflow steps than max_nonfinite_steps (3): no stop
    logger.close()
    assert run.step == 6 and run.overflow_steps > run.optim_cfg.max_nonfinite_steps
    assert run.scaler.get_scale() < 2.0 ** 24


def test_a_non_finite_fp16_loss_still_stops_the_run(tiny_bert_dir, tokenizer, corpus, tmp_path):
    ds, masker = corpus
    model, _ = load_masked_lm(tiny_bert_dir)

    def poison(student):
        with torch.no_grad():
            student.get_input_embeddings().weight.fill_(float("nan"))
        return {}

    opts = TrainOptions(MLM, _opts(max_steps=8, eval_every=2, checkpoint_every=100), bf16=False, fp16=True,
                        eval_fn=poison, progress=False, cpu_kernels=False)
    with pytest.raises(BertdistilError, match="3 steps in a row with a non-finite loss"):
        train(model, None, tokenizer, ds, masker, tmp_path, opts)
