"""SQuAD v1.1 span extraction on an article-disjoint split of the official dev set.

The dev set is read from the official JSON (plain or .gz) or from the hub's rajpurkar/squad parquet /
save_to_disk files (id, title, context, question, answers{text, answer_start}), which hold the same
questions. Only dev-v1.1.json exists here, so the protocol (not comparable to the official dev number) is:
articles sorted by title, shuffled with a fixed seed (0), the first ``train_fraction`` of them
fine-tune the model and the rest are evaluated with the official v1.1 EM/F1 (max over gold answers).
Features: question + context window of ``max_seq_len`` tokens with ``doc_stride`` overlap, padded to
max_seq_len; prediction = best start ≤ end (≤ 30 tokens) over all windows of a question.
Task distillation (student (D)) uses KL on start and end logits against a fine-tuned teacher.
"""
from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForQuestionAnswering, default_data_collator, set_seed

from ..config import FinetuneConfig
from ..data.documents import is_arrow_source
from ..data.rows import dataset_rows
from ..data.tasks import subsample
from ..errors import BertdistilError
from ..evaluation.metrics import squad_scores
from ..models.loading import load_tokenizer
from .trainer import FitOptions, fit


def load_squad(paths: list[Path]) -> list[dict]:
    """The articles of SQuAD v1.1: [{title, paragraphs: [{context, qas: [{id, question, answers}]}]}] from
    one official JSON file (plain or .gz), or from hub rows (parquet shards / a save_to_disk folder)
    grouped by title and context in row order. BertdistilError if missing or malformed."""
    if not paths:
        raise BertdistilError("SQuAD data not found: pass --data-dir DIR with squad/dev-v1.1.json[.gz] or the hub's "
                              "squad parquet files")
    if is_arrow_source(paths[0]):
        return _articles_from_rows(paths)
    path = Path(paths[0])
    if not path.is_file():
        raise BertdistilError(f"SQuAD file {path} not found")
    raw = path.read_bytes()
    try:
        return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)["data"]
    except (json.JSONDecodeError, KeyError) as e:
        raise BertdistilError(f"{path}: not a SQuAD v1.1 JSON file ({e})") from None


def _articles_from_rows(paths: list[Path]) -> list[dict]:
    articles: dict[str, dict[str, list]] = {}
    for path in paths:
        for where, r in dataset_rows(path):
            try:
                ans = r["answers"]
                qa = {"id": r["id"], "question": r["question"],
                      "answers": [{"text": t, "answer_start": s} for t, s in zip(ans["text"], ans["answer_start"])]}
                articles.setdefault(r["title"], {}).setdefault(r["context"], []).append(qa)
            except (KeyError, TypeError) as e:
                raise BertdistilError(f"{where}: not a SQuAD row (id, title, context, question, answers): "
                                      f"{e}") from None
    return [{"title": t, "paragraphs": [{"context": c, "qas": qas} for c, qas in paras.items()]}
            for t, paras in articles.items()]


def article_split(articles: list[dict], train_fraction: float = 0.8, seed: int = 0) -> tuple[list, list]:
    """Article-disjoint split: titles sorted, permuted with ``seed``, first fraction → train."""
    titles = sorted(a["title"] for a in articles)
    perm = np.random.default_rng(seed).permutation(len(titles))
    n_train = int(round(train_fraction * len(titles)))
    train_titles = {titles[i] for i in perm[:n_train]}
    return [a for a in articles if a["title"] in train_titles], [a for a in articles if a["title"] not in train_titles]


def flatten(articles: list[dict], limit: int = 0) -> list[dict]:
    """[{id, question, context, answers: [text], answer_start}] (answer = the first gold answer)."""
    out = []
    for a in articles:
        for p in a["paragraphs"]:
            for q in p["qas"]:
                out.append({"id": q["id"], "question": q["question"], "context": p["context"],
                            "answers": [x["text"] for x in q["answers"]],
                            "answer_start": q["answers"][0]["answer_start"]})
    return subsample(out, limit)


def featurize(tokenizer, examples: list[dict], max_len: int, stride: int, train: bool) -> dict:
    """Windows of (question, context). Returns tensors input_ids/attention_mask (F, max_len), and
    start/end positions (train; 0 = [CLS] when the answer is outside the window) or, for evaluation,
    example index, offsets and context mask per feature."""
    enc = tokenizer([e["question"] for e in examples], [e["context"] for e in examples], truncation="only_second",
                    max_length=max_len, stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                    padding="max_length")
    sample = enc["overflow_to_sample_mapping"]
    feats = {"input_ids": torch.tensor(enc["input_ids"]), "attention_mask": torch.tensor(enc["attention_mask"]),
             "example": np.array(sample)}
    if "token_type_ids" in enc and "token_type_ids" in tokenizer.model_input_names:
        feats["token_type_ids"] = torch.tensor(enc["token_type_ids"])
    seq_ids = [enc.sequence_ids(i) for i in range(len(sample))]
    ctx_mask = np.array([[s == 1 for s in ids] for ids in seq_ids])
    offsets = enc["offset_mapping"]
    if train:
        starts, ends = [], []
        for i, ex_i in enumerate(sample):
            ex = examples[ex_i]
            a0 = ex["answer_start"]
            a1 = a0 + len(ex["answers"][0])
            s = e = 0
            idx = np.nonzero(ctx_mask[i])[0]
            if len(idx) and offsets[i][idx[0]][0] <= a0 and offsets[i][idx[-1]][1] >= a1:
                s = next(j for j in idx if offsets[i][j][1] > a0)
                e = next(j for j in reversed(idx) if offsets[i][j][0] < a1)
            starts.append(s)
            ends.append(e)
        feats["start_positions"], feats["end_positions"] = torch.tensor(starts), torch.tensor(ends)
    feats["offsets"], feats["context_mask"] = offsets, ctx_mask
    return feats


def _inputs(feats: dict, idx, device) -> dict[str, torch.Tensor]:
    return {k: feats[k][idx].to(device) for k in ("input_ids", "attention_mask", "token_type_ids") if k in feats}


@torch.inference_mode()
def span_logits(model, feats: dict, batch_size: int = 64, bf16: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Start and end logits (F, L) float32 for every feature."""
    model.eval()
    device = next(model.parameters()).device
    n = len(feats["input_ids"])
    s_all, e_all = [], []
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for i in range(0, n, batch_size):
            out = model(**_inputs(feats, slice(i, i + batch_size), device))
            s_all.append(out.start_logits.float().cpu().numpy())
            e_all.append(out.end_logits.float().cpu().numpy())
    return np.concatenate(s_all), np.concatenate(e_all)


def best_spans(examples: list[dict], feats: dict, start: np.ndarray, end: np.ndarray, max_answer_len: int = 30,
               n_best: int = 20) -> dict[str, str]:
    """{question id: answer text}: the highest start+end logit span inside the context over all windows."""
    best: dict[int, tuple[float, str]] = {}
    for f in range(len(start)):
        ex_i = int(feats["example"][f])
        ctx, offs, mask = examples[ex_i]["context"], feats["offsets"][f], feats["context_mask"][f]
        s_logit = np.where(mask, start[f], -np.inf)
        e_logit = np.where(mask, end[f], -np.inf)
        for s in np.argsort(s_logit)[::-1][:n_best]:
            for e in np.argsort(e_logit)[::-1][:n_best]:
                if not (mask[s] and mask[e]) or e < s or e - s + 1 > max_answer_len:
                    continue
                score = s_logit[s] + e_logit[e]
                if ex_i not in best or score > best[ex_i][0]:
                    best[ex_i] = (score, ctx[offs[s][0]:offs[e][1]])
    return {ex["id"]: best.get(i, (0.0, ""))[1] for i, ex in enumerate(examples)}


def _span_rows(feats: dict, teacher_logits: tuple[np.ndarray, np.ndarray] | None) -> list[dict]:
    """Trainer rows of the train features: model inputs, answer positions and, for task distillation, the
    teacher's start and end logits."""
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions")
            if k in feats]
    rows = [{k: feats[k][i] for k in keys} for i in range(len(feats["input_ids"]))]
    if teacher_logits is not None:
        for r, s, e in zip(rows, *(torch.from_numpy(x.astype(np.float32)) for x in teacher_logits)):
            r["teacher_start_logits"], r["teacher_end_logits"] = s, e
    return rows


def finetune_squad(model_dir: Path, train_ex: list[dict], eval_ex: list[dict], cfg: FinetuneConfig,
                   opts: FitOptions | None = None,
                   teacher_logits: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[dict, object, dict]:
    """Fine-tune a span-extraction head with transformers' Trainer (trainer.DistillationTrainer), run as ``opts``
    says; ``teacher_logits``: the (start, end) logits (F, L) of a teacher fine-tuned on SQuAD over the train
    features → task distillation. Returns (result {exact_match, f1, ...}, model, train features)."""
    opts = opts or FitOptions()
    set_seed(opts.seed)
    tok = load_tokenizer(model_dir)
    model = AutoModelForQuestionAnswering.from_pretrained(str(model_dir), local_files_only=True)
    tr = featurize(tok, train_ex, cfg.squad_max_seq_len, cfg.squad_doc_stride, train=True)
    kwargs = {"model": model, "processing_class": tok, "data_collator": default_data_collator,
              "train_dataset": _span_rows(tr, teacher_logits)}
    t0 = time.perf_counter()
    trainer = fit(kwargs, cfg, opts, f"SQuAD {opts.name or Path(model_dir).name} seed {opts.seed}",
                  group_by_length=False)                       # windows are padded to max_seq_len
    train_s = time.perf_counter() - t0
    model = trainer.model
    ev = featurize(tok, eval_ex, cfg.squad_max_seq_len, cfg.squad_doc_stride, train=False)
    preds = best_spans(eval_ex, ev, *span_logits(model, ev, bf16=opts.bf16))
    scores = squad_scores(preds, {e["id"]: e["answers"] for e in eval_ex})
    return ({**scores, "train_questions": len(train_ex), "eval_questions": len(eval_ex),
             "train_features": len(tr["input_ids"]), "steps": trainer.state.max_steps, "epochs": cfg.epochs,
             "lr": cfg.lr, "seed": opts.seed, "train_s": round(train_s, 1),
             "task_distillation": teacher_logits is not None}, model, tr)
