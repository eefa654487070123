"""Fine-tuning throughput per GLUE task on this CPU, to size the `default` preset's caps (issue 14).

For each task: the student (3 layers) and the teacher (6 layers) fine-tuned with our loop (finetune.finetune,
default-preset settings: batch 32, bf16, max_seq_len 128, length-grouped batches) on the first N train
examples for one epoch; train examples/s = N / train_s. Usage:
.venv/bin/python results/finetune_loop/rates.py STUDENT_DIR TEACHER_DIR DATA_ROOT OUT.json [N] [TASK,TASK,...]
(issue 16 sized the `base` preset with N=96 and SST-2,MRPC,STS-B).
"""
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch

from bertdistil.config import load_config
from bertdistil.finetuning import finetune
from bertdistil.tasks import builtin_tasks, load_examples

student, teacher, root, out = sys.argv[1:5]
n = int(sys.argv[5]) if len(sys.argv) > 5 else 400
names = sys.argv[6].split(",") if len(sys.argv) > 6 else ["CoLA", "SST-2", "MRPC", "STS-B", "RTE", "WNLI", "IMDb"]
fc = replace(load_config("default").finetune, epochs=1.0, heldout_prop=0.0)
tasks = builtin_tasks(Path(root))
res = {"examples": n, "threads": torch.get_num_threads(), "batch_size": fc.batch_size, "rates": {}}
for name in names:
    spec = tasks[name]
    train_ex, dev_ex = load_examples(spec, "train", n), load_examples(spec, "dev", 200)
    row = {}
    for who, d in (("student", student), ("teacher", teacher)):
        r, _, _ = finetune(d, spec, train_ex, dev_ex, fc, 1, progress=False)
        row[who] = round(len(train_ex) / r["train_s"], 1)
    res["rates"][name] = row
    print(name, row, flush=True)
Path(out).write_text(json.dumps(res, indent=1))
