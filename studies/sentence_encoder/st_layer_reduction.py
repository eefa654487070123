"""The peer a sentence-encoder user would run instead: sentence-transformers' own layer-reduction distillation
(its example ``training/distillation/model_distillation_layer_reduction.py``: keep some teacher layers, train
with ``losses.MSELoss`` to the teacher's embeddings, lr 1e-4, batch 64, warm-up 10%, one epoch), run through
``SentenceTransformerTrainer`` — not re-implemented — on the same teacher, kept layers, corpus text and token
budget as a bertdistil run, then scored with bertdistil's sentence-encoder suite.

Usage (from the repository root):
  .venv/bin/python studies/sentence_encoder/st_layer_reduction.py --budget-from runs/default/results.json \
      --data-dir ../shared/data --out runs/st_peer [--seed 1] [--max-sentences N]
→ OUT/student (a SentenceTransformer folder), OUT/result.json {teacher, layers, sentences, tokens, wall_s, suite}

The text: the training side of the run's corpus (held-out documents excluded, as bertdistil trains), split into
sentences, shuffled with the seed, taken until their tokens (with [CLS]/[SEP]) reach the run's tokens_seen.
"""
import argparse
import json
import random
import re
import time
from pathlib import Path

import datasets
import torch
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MSELoss

from bertdistil.config import SentenceEvalConfig
from bertdistil.data.documents import documents, expand_corpus, split_documents
from bertdistil.data.shipped import default_corpus, default_teacher
from bertdistil.evaluation.sentence_suite import sentence_suite


def corpus_sentences(files: list[str], heldout_every: int, tokenizer, budget: int, seed: int) -> tuple[list, int]:
    """Training-side sentences of ``files`` in a seeded order until ``budget`` tokens; (sentences, tokens)."""
    part = "train" if heldout_every else "all"
    sents = [s.strip() for f in expand_corpus(files)
             for doc in split_documents(documents(f, False), part, heldout_every)
             for s in re.split(r"(?<=[.!?])\s+", " ".join(doc.split())) if len(s.split()) >= 3]
    random.Random(seed).shuffle(sents)
    out, tokens = [], 0
    for s in sents:
        if tokens >= budget:
            break
        out.append(s)
        tokens += len(tokenizer(s, truncation=True, max_length=128)["input_ids"])
    return out, tokens


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget-from", required=True, type=Path, help="a bertdistil run's results.json")
    p.add_argument("--data-dir", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-sentences", type=int, default=0, help="> 0: a quick check on fewer sentences")
    args = p.parse_args()
    run = json.loads(args.budget_from.read_text())
    cfg = run["config"]
    teacher_dir = default_teacher() if cfg.get("teacher") is None else Path(cfg["teacher"])
    layers = run["student"]["layer_map"]
    teacher = SentenceTransformer(str(teacher_dir), local_files_only=True)
    sents, tokens = corpus_sentences(cfg["corpus"] or default_corpus(), cfg["eval"]["heldout_every"],
                                     teacher.tokenizer, run["distill"]["tokens_seen"], args.seed)
    sents = sents[:args.max_sentences] if args.max_sentences else sents
    t0 = time.perf_counter()
    labels = teacher.encode(sents, batch_size=128, convert_to_numpy=True, show_progress_bar=True)
    teacher_s = time.perf_counter() - t0
    student = SentenceTransformer(str(teacher_dir), local_files_only=True)      # the example's recipe:
    encoder = student[0].auto_model.encoder                                      # keep the listed layers
    encoder.layer = torch.nn.ModuleList([encoder.layer[i] for i in layers])
    student[0].auto_model.config.num_hidden_layers = len(layers)
    train = datasets.Dataset.from_dict({"sentence": sents, "label": labels.tolist()})
    targs = SentenceTransformerTrainingArguments(
        output_dir=str(args.out / "trainer"), num_train_epochs=1, per_device_train_batch_size=64,
        learning_rate=1e-4, warmup_steps=0.1, seed=args.seed, save_strategy="no", logging_steps=50,
        report_to="none", use_cpu=not torch.cuda.is_available())
    t1 = time.perf_counter()
    SentenceTransformerTrainer(model=student, args=targs, train_dataset=train, loss=MSELoss(student)).train()
    train_s = time.perf_counter() - t1
    student.save(str(args.out / "student"))
    suite = sentence_suite(args.out / "student", args.data_dir, SentenceEvalConfig(**(cfg.get("sentence_eval") or {})))
    result = {"teacher": str(teacher_dir), "layers": layers, "seed": args.seed, "sentences": len(sents),
              "tokens": tokens if not args.max_sentences else None, "teacher_encode_s": teacher_s,
              "train_s": train_s, "wall_s": time.perf_counter() - t0, "suite": suite}
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "suite"} | {"sts_mean": suite.get("sts_mean"),
                      "probe_mean": suite.get("probe_mean")}, indent=1))


if __name__ == "__main__":
    main()
