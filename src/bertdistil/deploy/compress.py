"""``bertdistil compress``: deployable variants of a fine-tuned classifier, each evaluated on the task.

Variants (each a directory loadable by ``deploy.load_runner``):
  * ``torch_int8``    PyTorch dynamic INT8 of every nn.Linear;
  * ``magnitude``     global unstructured magnitude pruning of the encoder Linear weights at
                      ``sparsity`` (Han et al. 2015); dense storage, so it saves neither bytes nor time —
                      shown to make that point measurable;
  * ``ffn``           structured pruning that removes compute: keep the ``ffn_keep`` fraction of FFN
                      neurons of every layer ranked by first-order Taylor importance |Σ w·∂L/∂w|
                      (Molchanov et al. 2017) on training batches, then a recovery fine-tune with task
                      distillation from the unpruned model (α·T²·KL + (1−α)·CE; MSE for regression).
                      Attention heads are not pruned: transformers 5 removed ``prune_heads`` and a
                      config cannot express per-layer head counts;
  * ``onnx``          ONNX export (dynamic batch and length), ONNX Runtime BERT graph fusion;
  * ``onnx_int8``     ``onnx`` + ONNX Runtime dynamic INT8 (QInt8 weights);
  * ``ffn_onnx_int8`` the pruned model exported, fused and quantised (prune → quantise).
"""
from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..atomic import building_dir, save_model_dir, save_torch, write_json
from ..downstream.finetune import predict_outputs, to_predictions, tokenize_examples, train_classifier
from ..downstream.trainer import FitOptions
from ..errors import BertdistilError
from ..evaluation.metrics import task_metrics
from ..models.cards import finetuned_card
from ..models.loading import load_classifier, load_tokenizer
from ..runfolder.layout import cached_json
from .bench import size_on_disk_mb
from .runners import (
    ONNX_FILE,
    TORCH_INT8_FILE,
    VARIANT_FILE,
    input_names,
    load_runner,
    predict_logits,
    quantize_torch_int8,
)

VARIANTS = ("torch_int8", "magnitude", "ffn", "onnx", "onnx_int8", "ffn_onnx_int8")


@dataclass
class VariantJob:
    """What building a variant needs besides its folders: the task (``spec``, a data.tasks.TaskSpec), its
    labelled training examples ``train_ex`` [(text_a, text_b | None, label)] (pruning importance and recovery),
    the ``CompressConfig`` and ``FinetuneConfig`` of the run, bf16 autocast for the recovery fine-tune, progress
    bars."""
    spec: object
    train_ex: list[tuple]
    cfg: object
    fc: object
    bf16: bool = True
    progress: bool = True


def load_eager(model_dir: Path):
    """The fine-tuned classifier of ``model_dir`` (``models.load_classifier``) with eager attention, the form
    that pruning and the ONNX exporter trace."""
    return load_classifier(model_dir, attn_implementation="eager")[0]


def ffn_pairs(model: nn.Module) -> list[tuple[nn.Linear, nn.Linear]]:
    """(up-projection, down-projection) Linear pairs of every layer's feed-forward block, in order:
    BERT/RoBERTa/ELECTRA ``intermediate.dense``/``output.dense``, DistilBERT ``ffn.lin1``/``ffn.lin2``."""
    mods = dict(model.named_modules())
    pairs = []
    for name in mods:
        if name.endswith("intermediate.dense") and name.replace("intermediate.dense", "output.dense") in mods:
            pairs.append((mods[name], mods[name.replace("intermediate.dense", "output.dense")]))
        elif name.endswith("ffn.lin1"):
            pairs.append((mods[name], mods[name.replace("lin1", "lin2")]))
    if not pairs:
        raise BertdistilError(f"{type(model).__name__}: no BERT/DistilBERT feed-forward blocks found to prune")
    return pairs


def taylor_importance(model, tokenizer, spec, train_ex: list[tuple], max_len: int, batches: int = 8,
                      batch_size: int = 32) -> list[torch.Tensor]:
    """Per layer, the importance of each FFN neuron j: |Σ_batches Σ_i w·∂L/∂w| over row j of the
    up-projection (weights and bias) and column j of the down-projection. Returns tensors (d_ff,)."""
    pairs = ffn_pairs(model)
    scores = [torch.zeros(up.out_features) for up, _ in pairs]
    feats = tokenize_examples(tokenizer, train_ex, max_len)
    labels = [e[2] for e in train_ex]
    model.train()
    for b in range(min(batches, max(1, len(feats) // batch_size))):
        idx = list(range(b * batch_size, min(len(feats), (b + 1) * batch_size)))
        batch = tokenizer.pad([feats[i] for i in idx], return_tensors="pt")
        y = torch.tensor([labels[i] for i in idx], dtype=torch.float32 if spec.is_regression else torch.long)
        model.zero_grad()
        logits = model(**batch).logits
        loss = nn.functional.mse_loss(logits[:, 0], y) if spec.is_regression else nn.functional.cross_entropy(logits, y)
        loss.backward()
        for s, (up, down) in zip(scores, pairs):
            s += ((up.weight * up.weight.grad).sum(1) + up.bias * up.bias.grad
                  + (down.weight * down.weight.grad).sum(0)).detach().abs()
    model.zero_grad()
    model.eval()
    return scores


@torch.no_grad()
def prune_ffn(model, importance: list[torch.Tensor], keep: float):
    """Remove the least important FFN neurons, the same number in every layer so the config stays a
    valid BERT/DistilBERT config (``intermediate_size``/``hidden_dim`` = kept count). In place; returns model."""
    pairs = ffn_pairs(model)
    d_ff = pairs[0][0].out_features
    k = max(1, int(round(keep * d_ff)))
    for (up, down), score in zip(pairs, importance):
        idx = torch.sort(torch.topk(score, k).indices).values
        new_up, new_down = nn.Linear(up.in_features, k), nn.Linear(k, down.out_features)
        new_up.weight.copy_(up.weight[idx]), new_up.bias.copy_(up.bias[idx])
        new_down.weight.copy_(down.weight[:, idx]), new_down.bias.copy_(down.bias)
        up.weight, up.bias, up.out_features = new_up.weight, new_up.bias, k
        down.weight, down.in_features = new_down.weight, k
    key = "intermediate_size" if hasattr(model.config, "intermediate_size") else "hidden_dim"
    setattr(model.config, key, k)
    return model


def magnitude_prune(model, sparsity: float):
    """Global unstructured L1 pruning of all encoder nn.Linear weights (not embeddings, not the
    classifier) to ``sparsity`` (fraction of zeros), made permanent. In place; returns model."""
    from torch.nn.utils import prune
    base = getattr(model, model.base_model_prefix)
    params = [(m, "weight") for m in base.modules() if isinstance(m, nn.Linear)]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=sparsity)
    for m, name in params:
        prune.remove(m, name)
    return model


def quantize_onnx_int8(src: Path, dst: Path) -> None:
    """ONNX Runtime dynamic INT8 quantisation of ``src``'s MatMul weights (per tensor, signed; activations
    quantised at run time) into ``dst``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    logging.getLogger().setLevel(logging.ERROR)   # "consider pre-processing" advice from onnxruntime
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def export_onnx(model, tokenizer, out_dir: Path, optimize: bool = True, int8: bool = False) -> dict:
    """ONNX export (opset 17, dynamic batch/sequence axes; inputs per ``deploy.input_names``, output
    ``logits``), then ONNX Runtime's BERT fusion (Attention, SkipLayerNorm, BiasGelu, …: whichever patterns
    the graph matches; MPNet's attention, with its relative position bias, is not one) and optionally dynamic
    INT8 quantisation of MatMul weights. Writes model.onnx + config + tokenizer + onnx_fusion.json into
    out_dir. Returns the fused operator counts {op: n} ({} without ``optimize``)."""
    names = input_names(model.config)
    with building_dir(Path(out_dir)) as tmp:
        raw = tmp / "raw.onnx"
        _trace_onnx(model, tokenizer, names, raw)
        fusion = _fuse_onnx(raw, model.config) if optimize else {}
        if int8:
            quantize_onnx_int8(raw, tmp / ONNX_FILE)
            raw.unlink()
        else:
            raw.rename(tmp / ONNX_FILE)
        model.config.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "onnx_fusion.json").write_text(json.dumps(fusion, indent=1))
    return fusion


def _trace_onnx(model, tokenizer, names: list[str], path: Path) -> None:
    """``torch.onnx.export`` of the classifier's logits (opset 17, dynamic batch and sequence axes) to ``path``."""

    class Logits(nn.Module):          # keyword call: transformers 5 forwards do not take positional masks
        def __init__(self, m, names):
            super().__init__()
            self.m, self.names = m, names

        def forward(self, *xs):
            return self.m(**dict(zip(self.names, xs))).logits

    sample = tokenizer(["a short example", "and a second, longer example sentence"], padding=True, return_tensors="pt")
    args = tuple(sample[k] if k in sample else torch.zeros_like(sample["input_ids"]) for k in names)
    with warnings.catch_warnings():     # tracer warnings about data-dependent shapes in the mask code
        warnings.simplefilter("ignore")
        torch.onnx.export(Logits(model, names).eval(), args, str(path), input_names=names, output_names=["logits"],
                          dynamic_axes={**{k: {0: "batch", 1: "sequence"} for k in names}, "logits": {0: "batch"}},
                          opset_version=17, dynamo=False)


def _fuse_onnx(path: Path, config) -> dict:
    """ONNX Runtime's BERT graph fusion of the graph at ``path``, in place; returns the fused operator counts."""
    from onnxruntime.transformers import optimizer
    heads = getattr(config, "num_attention_heads", None) or config.n_heads
    hidden = getattr(config, "hidden_size", None) or config.dim
    fused = optimizer.optimize_model(str(path), model_type="bert", num_heads=heads, hidden_size=hidden)
    fusion = {k: v for k, v in sorted(fused.get_fused_operator_statistics().items()) if v}
    fused.save_model_to_file(str(path))
    return fusion


def evaluate_dir(model_dir: Path, spec, dev_ex: list[tuple], max_len: int) -> dict:
    """Task metrics (%) of any variant directory on labelled dev examples, fp32, via deploy.load_runner."""
    runner = load_runner(model_dir)
    logits = predict_logits(runner, load_tokenizer(model_dir), dev_ex, max_len)
    return task_metrics(spec.metrics, to_predictions(spec, logits), np.array([e[2] for e in dev_ex]))


def _torch_int8(src: Path, out: Path, tok, job: VariantJob) -> dict:
    model = load_eager(src)
    out.mkdir(parents=True, exist_ok=True)
    save_torch(quantize_torch_int8(model).state_dict(), out / TORCH_INT8_FILE)
    model.config.save_pretrained(out)
    tok.save_pretrained(out)
    return {"format": "torch_int8", "method": "torch.ao.quantization.quantize_dynamic(nn.Linear, qint8)"}


def _magnitude(src: Path, out: Path, tok, job: VariantJob) -> dict:
    sparsity = job.cfg.sparsity
    save_model_dir(magnitude_prune(load_eager(src), sparsity), tok, out)
    return {"format": "hf", "method": f"global L1 unstructured pruning, sparsity {sparsity}"}


def _ffn(src: Path, out: Path, tok, job: VariantJob) -> dict:
    model = load_eager(src)
    cfg, fc, train_ex = job.cfg, job.fc, job.train_ex
    teacher_out = predict_outputs(model, tok, tokenize_examples(tok, train_ex, fc.max_seq_len), bf16=job.bf16)
    importance = taylor_importance(model, tok, job.spec, train_ex, fc.max_seq_len, cfg.importance_batches)
    prune_ffn(model, importance, cfg.ffn_keep)
    save_model_dir(model, tok, out)
    info = {"format": "hf", "method": f"FFN neurons kept {cfg.ffn_keep} (Taylor importance)", "recovery": None}
    if cfg.recovery_epochs > 0:
        rc = replace(fc, epochs=cfg.recovery_epochs)
        opts = FitOptions(bf16=job.bf16, progress=job.progress)
        res, model, _ = train_classifier(out, job.spec, train_ex, train_ex[:64], rc, opts, teacher_outputs=teacher_out)
        save_model_dir(model, tok, out)
        info["recovery"] = {"epochs": cfg.recovery_epochs, "lr": fc.lr, "task_distillation_from": str(src),
                            "train_s": res["train_s"]}
    return info


def _onnx(pruned: bool, int8: bool):
    """Builder of an ONNX variant: of the fine-tuned model, or of the 'ffn' variant (built before it)."""
    def build(src: Path, out: Path, tok, job: VariantJob) -> dict:
        base = out.parent / "ffn" if pruned else src
        if pruned and not (base / VARIANT_FILE).is_file():
            raise BertdistilError(f"{out.name} needs the 'ffn' variant first: list it before {out.name} in "
                                  "compress.variants")
        fusion = export_onnx(load_eager(base), load_tokenizer(base), out, optimize=True, int8=int8)
        return {"format": "onnx", "source": str(base), "fused_ops": fusion,
                "method": ("FFN-pruned, then " if pruned else "") + "ONNX + onnxruntime BERT fusion"
                + (" + onnxruntime dynamic INT8" if int8 else "")}
    return build


VARIANT_BUILDERS = {"torch_int8": _torch_int8, "magnitude": _magnitude, "ffn": _ffn, "onnx": _onnx(False, False),
                    "onnx_int8": _onnx(False, True), "ffn_onnx_int8": _onnx(True, True)}


def make_variant(name: str, src: Path, out: Path, job: VariantJob) -> dict:
    """Build variant ``name`` (a key of ``VARIANT_BUILDERS``) of the fine-tuned classifier ``src`` into ``out``;
    writes and returns its recipe. BertdistilError for an unknown name."""
    if name not in VARIANT_BUILDERS:
        raise BertdistilError(f"unknown compression variant '{name}': choose from {', '.join(VARIANTS)}")
    info = VARIANT_BUILDERS[name](src, out, load_tokenizer(src), job)
    write_json(info, out / VARIANT_FILE)
    return info


def compress(src: Path, job: VariantJob, dev_ex: list[tuple], out: Path) -> dict:
    """Every variant in ``job.cfg.variants`` of fine-tuned ``src`` under ``out/<variant>``, each scored on
    ``dev_ex`` [(text_a, text_b | None, label)]. Returns {variant: {dir, format, method, size_mb, <metric>: %}};
    finished variants are reused."""
    out = Path(out)
    results = {}
    spec, max_len = job.spec, job.fc.max_seq_len
    for name in ["fp32", *job.cfg.variants]:
        vdir = src if name == "fp32" else out / name

        def compute(name=name, vdir=vdir) -> dict:
            info = {"format": "hf", "method": "fine-tuned, fp32"} if name == "fp32" else \
                make_variant(name, src, vdir, job)
            return {"dir": str(vdir), **info, "size_mb": size_on_disk_mb(vdir),
                    **evaluate_dir(vdir, spec, dev_ex, max_len), "dev_examples": len(dev_ex)}
        results[name] = cached_json(out / f"{name}.eval.json", compute, also=vdir / "config.json")
        if name != "fp32":
            r = results[name]
            finetuned_card(vdir, spec, r, src, compression=r["method"], fmt=r["format"], size_mb=r["size_mb"])
    return results
