"""Compression variants and the training benchmark on real models: ONNX parity with PyTorch in a plain
onnxruntime session, FFN pruning, magnitude sparsity, INT8 round trips, the FLOP formula."""
import numpy as np
import onnxruntime as ort
import pytest
import torch
from transformers import AutoModelForSequenceClassification

from bertdistil.atomic import save_model_dir
from bertdistil.config import CompressConfig, FinetuneConfig
from bertdistil.data.tasks import builtin_tasks, load_examples
from bertdistil.deploy.compress import (
    VariantJob,
    export_onnx,
    ffn_pairs,
    magnitude_prune,
    make_variant,
    prune_ffn,
    taylor_importance,
)
from bertdistil.deploy.runners import load_runner, predict_logits
from bertdistil.models.loading import load_masked_lm, load_tokenizer
from bertdistil.models.student import prepare_tokenizer_for, student_from_teacher


@pytest.fixture(scope="module")
def sst2(data_root):
    spec = builtin_tasks(data_root)["SST-2"]
    return spec, load_examples(spec, "train", 64), load_examples(spec, "dev", 200)   # 200: a stable correlation


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory, shipped_teacher):
    """The shipped teacher (BERT, token_type_ids) and its DistilBERT student, as 2-label classifiers."""
    root = tmp_path_factory.mktemp("cls")
    tok = load_tokenizer(shipped_teacher)
    teacher, _ = load_masked_lm(shipped_teacher)
    student, _ = student_from_teacher(teacher)
    save_model_dir(student, prepare_tokenizer_for(student, tok), root / "student_mlm")
    dirs = {}
    for name, src in (("teacher", shipped_teacher), ("student", root / "student_mlm")):
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(str(src), num_labels=2)
        with torch.no_grad():                       # a head with visible outputs (random init is ~0.02 scale)
            model.classifier.weight.normal_(0, 0.5)
        save_model_dir(model, load_tokenizer(src), root / name)
        dirs[name] = root / name
    return dirs


@pytest.mark.parametrize("which", ["teacher", "student"])
def test_onnx_export_matches_pytorch_in_plain_onnxruntime(tmp_path, classifiers, sst2, which):
    spec, _, dev = sst2
    src = classifiers[which]
    tok = load_tokenizer(src)
    model = AutoModelForSequenceClassification.from_pretrained(str(src)).eval()
    export_onnx(model, tok, tmp_path / "onnx", optimize=True)
    sess = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert ("token_type_ids" in names) == (which == "teacher")
    for batch in (dev[:1], dev[:16]):                   # batch 1 and a padded batch of different lengths
        enc = tok([a for a, _, _ in batch], padding=True, truncation=True, max_length=128, return_tensors="np")
        onnx_out = sess.run(["logits"], {k: enc[k].astype(np.int64) for k in names})[0]
        with torch.no_grad():
            ref = model(**{k: torch.from_numpy(enc[k]) for k in names}).logits.numpy()
        assert onnx_out.shape == ref.shape
        np.testing.assert_allclose(onnx_out, ref, atol=1e-4, rtol=1e-4)


def test_onnx_int8_and_torch_int8_stay_close_to_fp32(tmp_path, classifiers, sst2):
    spec, train, dev = sst2
    src = classifiers["student"]
    ref = predict_logits(load_runner(src), load_tokenizer(src), dev)
    cfg = CompressConfig()
    for name in ("torch_int8", "onnx_int8"):
        make_variant(name, src, tmp_path / name, VariantJob(spec, train, cfg, FinetuneConfig(), progress=False))
        out = predict_logits(load_runner(tmp_path / name), load_tokenizer(tmp_path / name), dev)
        assert out.shape == ref.shape
        margin, ref_margin = out[:, 1] - out[:, 0], ref[:, 1] - ref[:, 0]
        assert np.corrcoef(margin, ref_margin)[0, 1] > 0.8     # quantisation noise, not a different model (~0)
    assert (tmp_path / "onnx_int8" / "model.onnx").stat().st_size < 0.4 * (src / "model.safetensors").stat().st_size


def test_ffn_pruning_keeps_outputs_at_keep_1_and_shrinks_the_saved_model(tmp_path, classifiers, sst2):
    spec, train, dev = sst2
    src = classifiers["student"]
    tok = load_tokenizer(src)
    model = AutoModelForSequenceClassification.from_pretrained(str(src)).eval()
    enc = tok([a for a, _, _ in dev[:8]], padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = model(**enc).logits
    scores = taylor_importance(model, tok, spec, train, 64, batches=2, batch_size=16)
    d_ff = ffn_pairs(model)[0][0].out_features
    assert [s.shape[0] for s in scores] == [d_ff] * len(ffn_pairs(model)) and all(s.sum() > 0 for s in scores)
    with torch.no_grad():
        torch.testing.assert_close(prune_ffn(model, scores, 1.0)(**enc).logits, ref)   # nothing removed
    n_before = sum(p.numel() for p in model.parameters())
    prune_ffn(model, scores, 0.5)
    assert model.config.hidden_dim == d_ff // 2
    assert all(up.out_features == d_ff // 2 and down.in_features == d_ff // 2 for up, down in ffn_pairs(model))
    save_model_dir(model, tok, tmp_path / "pruned")
    reloaded = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "pruned")).eval()
    assert sum(p.numel() for p in reloaded.parameters()) < n_before
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**enc).logits, model(**enc).logits)


def test_ffn_pruning_on_a_bert_config(tiny_bert_dir, tokenizer, sst2):
    spec, train, _ = sst2
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert_dir), num_labels=2)
    prune_ffn(model, taylor_importance(model, tokenizer, spec, train, 32, batches=1), 0.25)
    assert model.config.intermediate_size == 16
    assert model(**tokenizer(["a test"], return_tensors="pt")).logits.shape == (1, 2)


def test_magnitude_pruning_reaches_the_sparsity_and_spares_embeddings(classifiers):
    model = AutoModelForSequenceClassification.from_pretrained(str(classifiers["student"]))
    emb = model.distilbert.embeddings.word_embeddings.weight.clone()
    magnitude_prune(model, 0.5)
    linear = [m.weight for m in model.distilbert.modules() if isinstance(m, torch.nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in linear) / sum(w.numel() for w in linear)
    assert zeros == pytest.approx(0.5, abs=1e-3)
    assert torch.equal(model.distilbert.embeddings.word_embeddings.weight, emb)
