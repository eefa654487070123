"""Our fine-tuning loop (finetune.finetune) against transformers' Trainer, same model, data and settings.

Keep our loop only where it is measurably faster by a margin that matters. Both train the
same classifier (AutoModelForSequenceClassification of MODEL) with AdamW (lr 1e-4, weight decay 0.01, betas
(0.9, 0.999), eps 1e-8), linear warm-up 10% then decay, gradient clipping 1.0, batch 32, 3 epochs, bf16
autocast on the CPU, dynamic padding and length-grouped batches (Trainer: group_by_length), no evaluation or
checkpoint during training. Runs alternate (ours, Trainer, ours, Trainer) so both see the same machine state;
only training is timed (train_s); dev accuracy is scored the same way for both (finetune.score).
Usage: .venv/bin/python studies/finetune_loop/compare.py MODEL_DIR DATA_ROOT OUT.json
(the committed measurement: OUT.json = results/finetune_loop/compare.json)
"""
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

from bertdistil.config import FinetuneConfig
from bertdistil.data.tasks import builtin_tasks, load_examples
from bertdistil.downstream.finetune import FitOptions, _load_classifier, score, tokenize_examples, train_classifier

model_dir, root, out = sys.argv[1], sys.argv[2], sys.argv[3]
torch.set_num_threads(2)
fc = replace(FinetuneConfig(), lr=1e-4, epochs=3.0, batch_size=32, max_seq_len=128, heldout_prop=0.0)
CAPS = json.loads(os.environ.get("CAPS", "{\"SST-2\": 1000, \"RTE\": 400}"))


def trainer_run(spec, train_ex, dev_ex, seed):
    model, tok = _load_classifier(model_dir, spec, torch.device("cpu"))
    feats = [{**f, "labels": e[2]} for f, e in zip(tokenize_examples(tok, train_ex, fc.max_seq_len), train_ex)]
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=fc.batch_size, learning_rate=fc.lr,
                                 num_train_epochs=fc.epochs, warmup_steps=fc.warmup_prop, weight_decay=fc.weight_decay,
                                 adam_beta1=fc.adam_betas[0], adam_beta2=fc.adam_betas[1], adam_epsilon=fc.adam_epsilon,
                                 max_grad_norm=fc.max_grad_norm, bf16=True, use_cpu=True,
                                 train_sampling_strategy="group_by_length",
                                 eval_strategy="no", save_strategy="no", logging_strategy="no", report_to=[],
                                 seed=seed, disable_tqdm=True, dataloader_num_workers=0, optim="adamw_torch_fused")
        trainer = Trainer(model=model, args=args, train_dataset=feats, data_collator=DataCollatorWithPadding(tok))
        t0 = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - t0
    return {"train_s": round(train_s, 2), **score(model, tok, spec, dev_ex, fc.max_seq_len)}


results = {"model": model_dir, "settings": {k: getattr(fc, k) for k in ("lr", "epochs", "batch_size", "max_seq_len")},
           "threads": torch.get_num_threads(), "torch": torch.__version__, "tasks": {}}
tasks = builtin_tasks(__import__("pathlib").Path(root))
for name, cap in CAPS.items():
    spec = tasks[name]
    train_ex, dev_ex = load_examples(spec, "train", cap), load_examples(spec, "dev", 0)
    rows = {"ours": [], "trainer": []}
    for seed in (1, 2):
        r, _, _ = train_classifier(model_dir, spec, train_ex, dev_ex, fc, FitOptions(seed, progress=False))
        rows["ours"].append({"train_s": r["train_s"], spec.metrics[0]: r[spec.metrics[0]]})
        t = trainer_run(spec, train_ex, dev_ex, seed)
        rows["trainer"].append({"train_s": t["train_s"], spec.metrics[0]: t[spec.metrics[0]]})
        print(name, seed, rows["ours"][-1], rows["trainer"][-1], flush=True)
    n = len(train_ex) * fc.epochs
    results["tasks"][name] = {**rows, "train_examples": len(train_ex),
                              "examples_per_s": {k: round(n / min(x["train_s"] for x in v), 1)
                                                 for k, v in rows.items()},
                              "trainer_over_ours_time": round(min(x["train_s"] for x in rows["trainer"])
                                                              / min(x["train_s"] for x in rows["ours"]), 3)}
Path(out).write_text(json.dumps(results, indent=1))
print(json.dumps({k: v["examples_per_s"] for k, v in results["tasks"].items()}))
