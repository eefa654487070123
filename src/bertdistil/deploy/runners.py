"""Loading a deployable sequence-classification model of any format behind one call.

A model directory holds a Hugging Face checkpoint (``config.json`` + weights + tokenizer) and, when
``bertdistil compress`` made it, a ``variant.json`` naming its format:
  * ``hf``          — safetensors weights, run with PyTorch (fp32, or pruned: still a normal checkpoint);
  * ``torch_int8``  — PyTorch dynamic INT8 of every ``nn.Linear`` (weights in ``model_int8.pt``);
  * ``onnx``        — ``model.onnx`` run by ONNX Runtime (graph-optimised and/or INT8-quantised).
``load_runner(dir)`` returns a callable mapping padded numpy inputs to logits, the same for every format,
so evaluation (compress) and timing (bench) treat all variants alike.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..downstream.finetune import tokenize_examples
from ..errors import BertdistilError

VARIANT_FILE = "variant.json"
ONNX_FILE = "model.onnx"
TORCH_INT8_FILE = "model_int8.pt"


def variant_info(model_dir: str | Path) -> dict:
    """The ``variant.json`` of a directory, or {"format": "hf"} for a plain checkpoint."""
    f = Path(model_dir) / VARIANT_FILE
    return json.loads(f.read_text()) if f.is_file() else {"format": "hf"}


def input_names(config) -> list[str]:
    """Inputs a sequence classifier takes: token_type_ids only for models with segment embeddings
    (BERT, RoBERTa, ELECTRA), never for DistilBERT."""
    return ["input_ids", "attention_mask"] + (["token_type_ids"] if getattr(config, "type_vocab_size", 0) else [])


def quantize_torch_int8(model):
    """PyTorch dynamic INT8 quantisation of every nn.Linear (weights int8 per tensor, activations
    quantised on the fly; fbgemm on x86). Returns a new module; the input is left unchanged."""
    import copy

    import torch
    from torch.ao.quantization import quantize_dynamic
    return quantize_dynamic(copy.deepcopy(model).eval(), {torch.nn.Linear}, dtype=torch.qint8)


class Runner:
    """``runner(batch) -> logits``: batch = {name: int64 array (B, L)}; logits float32 (B, num_labels)."""

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        from transformers import AutoConfig
        self.dir = Path(model_dir)
        self.info = variant_info(self.dir)
        self.format = self.info["format"]
        self.config = AutoConfig.from_pretrained(str(self.dir), local_files_only=True)
        self.names = input_names(self.config)
        if self.format == "onnx":
            import onnxruntime as ort
            opts = ort.SessionOptions()
            if threads:
                opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
            self.session = ort.InferenceSession(str(self.dir / ONNX_FILE), opts, providers=["CPUExecutionProvider"])
            self.names = [i.name for i in self.session.get_inputs()]
            return
        import torch
        from transformers import AutoModelForSequenceClassification
        if threads:
            torch.set_num_threads(threads)
        if self.format == "hf":
            # a Table 3 row may be a pre-trained encoder: its head is random and only timed
            self.model = AutoModelForSequenceClassification.from_pretrained(str(self.dir), local_files_only=True).eval()
        elif self.format == "torch_int8":
            base = AutoModelForSequenceClassification.from_config(self.config).eval()
            self.model = quantize_torch_int8(base)
            self.model.load_state_dict(load_int8_state(self.dir / TORCH_INT8_FILE))
        else:
            raise BertdistilError(f"{self.dir / VARIANT_FILE}: unknown format '{self.format}' (hf, torch_int8, onnx)")

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        feed = {k: np.asarray(batch[k], dtype=np.int64) for k in self.names if k in batch}
        if "token_type_ids" in self.names and "token_type_ids" not in feed:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        if self.format == "onnx":
            return self.session.run(["logits"], feed)[0]
        import torch
        with torch.inference_mode():
            return self.model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits.float().numpy()


def load_int8_state(path: Path) -> dict:
    """The state dict of a ``torch_int8`` variant, loaded with ``weights_only=True`` (tensors, quantized tensors,
    dtypes and tuples only: no code from the file runs)."""
    import warnings

    import torch
    with warnings.catch_warnings():      # torch's own quantized-tensor rebuild uses TypedStorage
        warnings.simplefilter("ignore", UserWarning)
        return torch.load(path, weights_only=True, map_location="cpu")


def load_runner(model_dir: str | Path, threads: int | None = None) -> Runner:
    """A Runner for any directory written by ``finetune``/``compress`` (see module doc).

    Raises BertdistilError for an unknown variant format; transformers/onnxruntime errors for broken files.
    """
    return Runner(model_dir, threads)


def predict_logits(runner: Runner, tokenizer, examples: list[tuple], max_len: int = 128,
                   batch_size: int = 64) -> np.ndarray:
    """Logits (N, num_labels) float32 for (text_a, text_b, label) examples, batched by length."""
    feats = tokenize_examples(tokenizer, examples, max_len)
    order = np.argsort([len(f["input_ids"]) for f in feats], kind="stable")
    out = None
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        batch = tokenizer.pad([feats[j] for j in idx], return_tensors="np")
        logits = runner(dict(batch))
        if out is None:
            out = np.zeros((len(examples), logits.shape[1]), dtype=np.float32)
        out[idx] = logits
    return out
