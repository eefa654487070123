"""Teacher preparation: give an encoder without an MLM head (e.g. a sentence-embedding model) one.

The soft-target term is only as good as the teacher's MLM head, so a head-less teacher is
*adapted*: a fresh head is attached (decoder tied to the word embeddings) and the whole model is
trained with the MLM loss on the corpus for ``teacher_prep.max_steps`` steps — or, with
``teacher_head_only``, the head alone (transform and bias; the encoder and hence every hidden state
stay the original checkpoint's, which is what a sentence-embedding teacher is good at). The result is a
``save_pretrained`` directory cached under ``CACHE/teachers/<key>`` and reused while the teacher,
corpus and settings are unchanged. A teacher that already has an MLM head is used as it is.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from ..atomic import write_json
from ..config import Config, LossConfig
from ..data.corpus import TokenDataset
from ..errors import BertdistilError
from ..lock import entry_lock
from ..models.loading import check_model_dir, load_masked_lm
from ..models.sentence import copy_sentence_config
from .loop import TrainOptions, train
from .masking import Masker


def _teacher_key(src: Path, cfg: Config, dataset: TokenDataset) -> str:
    h = hashlib.sha256()
    for f in sorted(src.iterdir()):
        if f.is_file():
            h.update(f"{f.name}|{f.stat().st_size}".encode())
    h.update(str(src.resolve()).encode())
    # epochs = 0 (train for max_steps) is left out so keys made before that setting existed stay valid
    prep = {k: v for k, v in vars(cfg.teacher_prep).items() if not (k == "epochs" and not v)}
    head_only = [True] if cfg.teacher_head_only else []       # absent when off: earlier keys stay valid
    h.update(json.dumps([prep, cfg.masking.__dict__, cfg.seed, cfg.bf16, *head_only], default=str).encode())
    h.update(str(dataset.folder.name).encode())
    return h.hexdigest()[:16]


def prepare_teacher_dir(src: Path, cfg: Config, tokenizer, dataset: TokenDataset, cache: Path, *,
                        force: bool = False, progress: bool = True,
                        device: torch.device | str = "cpu") -> tuple[Path, dict]:
    """Return (directory of a teacher with an MLM head, info): ``src`` as it is when it has one (and not
    ``force``), else ``src`` with its head fitted by masked-LM training on ``dataset`` (masked as
    ``cfg.masking`` says) and cached under ``cache/teachers/<key>``.

    info = {prepared: bool, missing_head: [param names], steps, tokens_seen, wall_s, dir}.
    Training resumes from its checkpoint if a previous preparation was killed.
    """
    src = check_model_dir(src, "teacher")
    torch.manual_seed(cfg.seed)          # the missing head is initialised here: the same teacher on every run
    model, missing = load_masked_lm(src)
    if not missing and not force:
        return src, {"prepared": False, "missing_head": [], "dir": str(src)}
    if cfg.teacher_prep.max_steps <= 0:
        raise BertdistilError(f"teacher {src} has no MLM head ({len(missing)} head tensors missing) and "
                              "teacher_prep.max_steps is 0: use --set teacher_prep.max_steps=N or a teacher with "
                              "an MLM head")
    folder = cache / "teachers" / _teacher_key(src, cfg, dataset)
    final = folder / "final"
    summary_path = folder / "summary.json"
    with entry_lock(folder, "this teacher"):          # a second process waits, then reuses the result
        cached = summary_path.is_file() and (final / "config.json").is_file()
        if cached:
            summary = json.loads(summary_path.read_text())
        else:
            mlm = LossConfig(alpha_ce=0, alpha_mlm=1, alpha_cos=0)
            if cfg.teacher_head_only:    # the encoder (and the decoder tied to its embeddings) stays as it was
                model.base_model.requires_grad_(False)
            opts = TrainOptions(mlm, cfg.teacher_prep, seed=cfg.seed, bf16=cfg.bf16, fp16=cfg.fp16,
                                cpu_kernels=cfg.cpu_kernels,
                                desc="prepare teacher (MLM)", progress=progress)
            masker = Masker.for_corpus(cfg.masking, tokenizer, dataset.counts)
            summary = train(model.to(device), None, tokenizer, dataset, masker, folder, opts)
            write_json({"source": str(src), "missing_head": missing}, folder / "source.json")
        copy_sentence_config(src, final)     # a sentence-transformers teacher stays one (sentence.py)
    info = {"prepared": True, "missing_head": missing, "dir": str(final), "from_cache": cached,
            **{k: summary[k] for k in ("steps", "tokens_seen", "wall_s", "tokens_per_s", "final_loss")}}
    return final, info
