"""ONNX export of the all-mpnet-base-v2 teacher and its 6-layer student as 2-label classifiers (heads drawn with
seed 0, N(0, 0.5), untrained): which ONNX Runtime fusions apply, fp32 ONNX vs PyTorch, INT8 vs fp32 ONNX.

    .venv/bin/python studies/base_onnx/onnx_check.py ../shared/data results/base_onnx/onnx_check.json
"""
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from transformers import AutoModelForSequenceClassification

from bertdistil.api import build_student
from bertdistil.data.tasks import builtin_tasks, load_examples
from bertdistil.deploy.compress import export_onnx
from bertdistil.models.base_teacher import resolve_teacher
from bertdistil.models.loading import load_tokenizer


def logits_onnx(folder: Path, enc: dict) -> np.ndarray:
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask")})[0]


def main(data_root: str, out: str) -> None:
    texts = [a for a, _, _ in load_examples(builtin_tasks(Path(data_root))["SST-2"], "dev", 200)]
    tmp = Path(tempfile.mkdtemp())
    teacher = resolve_teacher("all-mpnet-base-v2")
    build_student(teacher, tmp / "student")
    report = {"texts": "first 200 SST-2 dev sentences", "heads": "2 labels, N(0, 0.5) with seed 0, untrained"}
    for name, src in (("teacher", teacher), ("student", tmp / "student")):
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(str(src), num_labels=2).eval()
        with torch.no_grad():
            model.classifier.out_proj.weight.normal_(0, 0.5)
        tok = load_tokenizer(src)
        enc = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="np")
        with torch.no_grad():
            ref = model(**{k: torch.from_numpy(enc[k]) for k in ("input_ids", "attention_mask")}).logits.numpy()
        fused = export_onnx(model, tok, tmp / f"{name}_onnx", optimize=True)
        export_onnx(model, tok, tmp / f"{name}_int8", optimize=True, int8=True)
        fp32, int8 = logits_onnx(tmp / f"{name}_onnx", enc), logits_onnx(tmp / f"{name}_int8", enc)
        margin = lambda x: x[:, 1] - x[:, 0]                                    # noqa: E731
        report[name] = {"fused_ops": fused, "onnx_fp32_max_abs_diff_vs_pytorch": float(np.abs(fp32 - ref).max()),
                        "int8_margin_correlation_vs_fp32": float(np.corrcoef(margin(int8), margin(fp32))[0, 1]),
                        "int8_same_argmax_as_fp32": float((int8.argmax(1) == fp32.argmax(1)).mean()),
                        "size_mb": {"onnx_fp32": (tmp / f"{name}_onnx" / "model.onnx").stat().st_size / 1e6,
                                    "onnx_int8": (tmp / f"{name}_int8" / "model.onnx").stat().st_size / 1e6}}
        print(name, json.dumps(report[name]))
    Path(out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
