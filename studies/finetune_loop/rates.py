"""Fine-tuning throughput per GLUE task on this CPU, to size the `default` preset's caps.

For each task: the student (3 layers) and the teacher (6 layers) fine-tuned with our loop (finetune.finetune,
default-preset settings: batch 32, bf16, max_seq_len 128, length-grouped batches) on the first N train
examples for one epoch; train examples/s = N / train_s. Usage:
.venv/bin/python studies/finetune_loop/rates.py STUDENT_DIR TEACHER_DIR DATA_ROOT OUT.json [N] [TASK,TASK,...]
(the committed measurements: OUT.json = results/finetune_loop/rates.json for `default`; the `base` preset was
sized with N=96 and SST-2,MRPC,STS-B into results/base/finetune_rates.json)
"""
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from bertdistil.config import load_preset
from bertdistil.data.tasks import builtin_tasks, load_examples
from bertdistil.downstream.finetune import FitOptions, train_classifier

student, teacher, root, out = sys.argv[1:5]
n = int(sys.argv[5]) if len(sys.argv) > 5 else 400
names = sys.argv[6].split(",") if len(sys.argv) > 6 else ["CoLA", "SST-2", "MRPC", "STS-B", "RTE", "WNLI", "IMDb"]
fc = replace(load_preset("default").finetune, epochs=1.0, heldout_prop=0.0)
tasks = builtin_tasks(Path(root))
res = {"examples": n, "threads": torch.get_num_threads(), "batch_size": fc.batch_size, "rates": {}}
for name in names:
    spec = tasks[name]
    train_ex, dev_ex = load_examples(spec, "train", n), load_examples(spec, "dev", 200)
    row = {}
    for who, d in (("student", student), ("teacher", teacher)):
        r, _, _ = train_classifier(d, spec, train_ex, dev_ex, fc, FitOptions(1, progress=False))
        row[who] = round(len(train_ex) / r["train_s"], 1)
    res["rates"][name] = row
    print(name, row, flush=True)
Path(out).write_text(json.dumps(res, indent=1))
