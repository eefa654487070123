"""What the stages of a run share (``Context``): the teacher's tokenizer, the training corpus without its
held-out documents, the masked-LM evaluation text and its fixed mask, the masker, the device.

The evaluation text is WikiText-2 valid when the benchmark data root has it, else the held-out split of
the training corpus (``eval_corpus``), so a run without benchmark data still evaluates on text it never
trained on.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import torch

from ..config import Config
from ..data.benchmark_root import resolve_data_root, wikitext_valid
from ..data.corpus import CorpusSpec, prepare_corpus
from ..data.shipped import cache_dir, default_corpus
from ..errors import BertdistilError
from ..evaluation.mlm import EvalSet, score_mlm, unigram_baseline
from ..models.base_teacher import resolve_teacher
from ..models.loading import check_model_dir, load_masked_lm, load_tokenizer, resolve_device
from ..training.distributed import barrier, rank_world
from ..training.masking import Masker


def training_corpus(cfg: Config, tokenizer, progress: bool = True):
    """The run's pre-training corpus (``--corpus`` or the shipped one) without its held-out documents
    (``eval.heldout_every``), prepared once into the cache."""
    every = cfg.eval.heldout_every
    spec = CorpusSpec(token_dtype=cfg.token_dtype, max_sequences=cfg.corpus_max_sequences,
                      part="train" if every else "all", heldout_every=every)
    return prepare_corpus(cfg.corpus or default_corpus(), tokenizer, cfg.max_seq_len, cache_dir(cfg.cache_dir), spec,
                          progress=progress)


def eval_corpus(cfg: Config, root: Path | None) -> dict:
    """The masked-LM evaluation text: {name, description, files, wikitext, part}. ``eval.corpus`` a file:
    that file; "heldout": the corpus's held-out split; None: WikiText-2 valid from the data root, else
    the held-out split. BertdistilError when there is none."""
    ec = cfg.eval
    if ec.corpus and ec.corpus != "heldout":
        return {"name": "file", "description": str(ec.corpus), "files": [ec.corpus], "wikitext": False, "part": "all"}
    wt = None if ec.corpus == "heldout" else wikitext_valid(root)
    if wt is not None:
        return {"name": "wikitext2_valid", "description": "held-out WikiText-2 valid", "files": [str(wt)],
                "wikitext": True, "part": "all"}
    if ec.heldout_every <= 0:
        raise BertdistilError("no masked-LM evaluation text: no wikitext/ in a data root and eval.heldout_every is 0; "
                              "pass --data-dir DIR, --set eval.corpus=FILE or --set eval.heldout_every=50")
    return {"name": "corpus_heldout", "files": cfg.corpus or default_corpus(), "wikitext": False, "part": "heldout",
            "description": f"the held-out split of the training corpus (1 document in {ec.heldout_every} by text "
                           "hash, never trained on)"}


class Context:
    """Everything the stages share: tokenizer, datasets, masker, evaluation set."""

    def __init__(self, cfg: Config, progress: bool):
        self.cfg, self.progress = cfg, progress
        if cfg.threads > 0:                  # asked for; else the process's setting stays (the CLI sets all cores)
            torch.set_num_threads(cfg.threads)
        self.cache = cache_dir(cfg.cache_dir)
        self.teacher_src = check_model_dir(resolve_teacher(cfg.teacher, cfg.cache_dir), "teacher")
        self.original_teacher = self.teacher_src     # hidden-state targets when loss.hidden_teacher = original
        self.teacher_tokenizer = load_tokenizer(self.teacher_src)
        self.tokenizer = self.teacher_tokenizer      # replaced by the student's once it exists (no token types)
        if self.tokenizer.mask_token_id is None or self.tokenizer.pad_token_id is None:
            raise BertdistilError(f"{self.teacher_src}: tokenizer has no [MASK] or [PAD] token: "
                                  "use a BERT-family tokenizer")
        self.special_ids = sorted(set(self.tokenizer.all_special_ids))
        self.root = resolve_data_root(cfg.data_dir)
        self.eval_source = eval_corpus(cfg, self.root)
        self.device = resolve_device(cfg.device)
        if torch.cuda.is_available() and rank_world()[1] > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", torch.cuda.current_device())   # this rank's GPU

    @staticmethod
    def _prepared(make):
        """``make()`` once rank 0 has run it (the others then read its cache); every rank must call it."""
        rank = rank_world()[0]
        if rank:
            barrier()
        value = make()
        if not rank:
            barrier()
        return value

    @cached_property
    def dataset(self):
        """The training corpus without its held-out documents (tokenised on first use)."""
        return self._prepared(lambda: training_corpus(self.cfg, self.teacher_tokenizer, self.progress))

    @cached_property
    def eval_dataset(self):
        """The evaluation text, tokenised on first use. Only the processes that evaluate touch it (rank 0
        under torchrun), so no barrier here; preparation is atomic if two ever race."""
        src, cfg = self.eval_source, self.cfg
        spec = CorpusSpec(wikitext=src["wikitext"], token_dtype=cfg.token_dtype, part=src["part"],
                          heldout_every=cfg.eval.heldout_every)
        return prepare_corpus(src["files"], self.teacher_tokenizer, cfg.max_seq_len, self.cache, spec,
                              desc="tokenize eval", progress=self.progress)

    @cached_property
    def eval_set(self) -> EvalSet:
        return EvalSet(self.eval_dataset, self.special_ids, self.teacher_tokenizer.mask_token_id,
                       seed=self.cfg.eval.mask_seed, max_tokens=self.cfg.eval.max_tokens)

    @cached_property
    def quick_eval_set(self) -> EvalSet:
        """The subset used by periodic evaluation during training."""
        return EvalSet(self.eval_dataset, self.special_ids, self.teacher_tokenizer.mask_token_id,
                       seed=self.cfg.eval.mask_seed, max_tokens=self.cfg.eval.periodic_max_tokens)

    @cached_property
    def masker(self) -> Masker:
        return Masker.for_corpus(self.cfg.masking, self.teacher_tokenizer, self.dataset.counts)

    def read_inputs(self) -> Masker:
        """Read and check the corpus and build the masker now (returned), so a bad input fails with its one
        line before any stage starts. Raises BertdistilError naming the file and the fix."""
        return self.masker

    def load(self, model_dir: Path):
        """Load a *ForMaskedLM directory onto the run's device."""
        return load_masked_lm(model_dir)[0].to(self.device)

    def mlm_baseline(self) -> dict:
        """The most-frequent-token baseline on the evaluation targets (evaluate.unigram_baseline), with the
        token it always predicts."""
        base = unigram_baseline(self.eval_set, self.dataset.counts, self.special_ids)
        return {**base, "token": self.teacher_tokenizer.convert_ids_to_tokens(base["token_id"])}

    def evaluate(self, model, quick: bool = False) -> dict:
        return score_mlm(model, self.quick_eval_set if quick else self.eval_set, self.tokenizer.pad_token_id,
                            self.cfg.eval.batch_size, self.cfg.bf16, progress=self.progress and not quick,
                            per_sequence=not quick)
