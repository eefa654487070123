"""The Python API: each step of the recipe as one function, the same functions the ``bertdistil`` command
calls. Importing it changes nothing in the process (no environment variables are set); no hub is
contacted because every model and tokenizer is loaded from a local directory with ``local_files_only``.

    import bertdistil
    cfg = bertdistil.load_config("smoke", data_dir="~/data")
    teacher = bertdistil.prepare_teacher(cfg)["dir"]              # fits an MLM head when the teacher has none
    bertdistil.build_student(teacher, "runs/nb/student_init")     # one layer out of two
    run = bertdistil.distill(cfg, "runs/nb", teacher=teacher)     # → runs/nb/student
    bertdistil.evaluate_mlm(run["student"], cfg)["accuracy"]
    bertdistil.finetune(run["student"], "SST-2", "runs/nb/sst2", cfg)["accuracy"]

Errors are ``bertdistil.errors.BertdistilError`` with one line naming the input and the fix.
"""
from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path

from .config import Config
from .config import load_config as _load_preset


def load_config(preset: str = "default", overrides: list[str] | tuple[str, ...] = (), *, teacher: str | None = None,
                corpus: list[str] | None = None, data_dir: str | None = None) -> Config:
    """A resolved Config: a preset name (``smoke``, ``default``, ``full``, …) or a .json path, dotted
    ``key=value`` overrides (``distill.max_steps=200``), and the teacher directory, corpus files/globs and
    benchmark data root (``~`` expanded). Raises BertdistilError for an unknown preset, key or bad value."""
    cfg = _load_preset(preset, list(overrides))
    if teacher:
        cfg.teacher = str(Path(teacher).expanduser())
    if corpus:
        cfg.corpus = [corpus] if isinstance(corpus, str) else list(corpus)
    if data_dir:
        cfg.data_dir = str(Path(data_dir).expanduser())
    return cfg


def prepare_teacher(cfg: Config, *, force: bool = False, evaluate: bool = True, progress: bool = True) -> dict:
    """Give ``cfg.teacher`` (default: the embedded all-MiniLM-L6-v2) an MLM head, cached under the cache
    folder and reused. Returns {dir: Path of the teacher to distil from, prepared, steps, tokens_seen, wall_s,
    …, mlm: masked-LM accuracy/perplexity with a 95% bootstrap interval (when ``evaluate``)}."""
    from .evaluation.bootstrap import summarised
    from .pipeline.context import Context
    from .training.teacher_prep import prepare_teacher as _prepare
    ctx = Context(cfg, progress)
    folder, info = _prepare(ctx.teacher_src, cfg, ctx.tokenizer, ctx.dataset, ctx.masker, ctx.cache, force=force,
                            progress=progress, device=ctx.device)
    info = {**info, "dir": Path(folder)}
    if evaluate:
        info["mlm"] = summarised(ctx.evaluate(ctx.load(folder)))
    return info


def build_student(teacher: str | Path, out: str | Path, layer_map: list[int] | None = None,
                  random_init: bool = False, *, force: bool = False) -> dict:
    """Build the student of a teacher directory (or ``all-mpnet-base-v2``, baseteacher.py): DistilBERT for a
    BERT teacher, same family otherwise, one teacher layer out of two unless ``layer_map`` lists them; save it
    with its tokenizer, model card and the teacher's sentence-transformers files to ``out``, which may only
    be new, empty or an earlier student/model folder of bertdistil (``force``: replace any folder; never the
    teacher's). Returns {out, layer_map, params}. BertdistilError for a refused ``out`` or layer map.
    Warns on stderr when the teacher has no MLM head (the student's head is then random)."""
    from .atomic import save_model_dir
    from .models.base_teacher import resolve_teacher
    from .models.cards import pretrained_card
    from .models.loading import check_model_dir, describe, load_masked_lm, load_tokenizer
    from .models.sentence import copy_sentence_config
    from .models.student import build_student as _build
    from .models.student import prepare_tokenizer_for
    from .runfolder.ownership import writing
    teacher_dir = check_model_dir(resolve_teacher(str(teacher)), "teacher")
    with writing(Path(out), "model", force=force, inputs={"--teacher": teacher_dir}):
        model, missing = load_masked_lm(teacher_dir)
        if missing:
            print(f"bertdistil: warning: {teacher_dir} has no MLM head ({len(missing)} tensors missing); the "
                  "student's head is random: run `bertdistil prepare-teacher` first", file=sys.stderr)
        student, lm = _build(model, layer_map, random_init=random_init)
        save_model_dir(student, prepare_tokenizer_for(student, load_tokenizer(teacher_dir)), Path(out))
        copy_sentence_config(teacher_dir, Path(out))
        pretrained_card(Path(out), "truncated", {"teacher": {**describe(model, teacher_dir),
                                                             "source": str(teacher_dir)},
                                                 "student": {**describe(student, out), "layer_map": lm}})
    return {"out": Path(out), "layer_map": lm, "params": sum(p.numel() for p in student.parameters())}


def distill(cfg: Config, out: str | Path, *, teacher: str | Path | None = None, student: str | Path | None = None,
            original_teacher: str | Path | None = None, restart: bool = False, progress: bool = True) -> dict | None:
    """Distil one student into ``out`` (resumable: a killed call continues from its last checkpoint).
    ``teacher`` (default ``cfg.teacher``) needs an MLM head when ``loss.alpha_ce`` > 0; ``student`` is an
    init directory (default: built from the teacher into OUT/student_init). ``out`` is locked, and may only be
    new, empty or a bertdistil run folder; ``restart`` empties such a folder first. Returns {student: Path,
    mlm, steps, tokens_seen, wall_s, …}, or None on the non-zero ranks of a torchrun job."""
    from .models.loading import check_model_dir
    from .pipeline.context import Context
    from .pipeline.distill import distill_into
    from .runfolder.ownership import writing
    from .training.distributed import barrier, init_from_env, is_main
    init_from_env()                   # under torchrun: join the process group (gloo on CPU, NCCL on GPU)
    if teacher:
        cfg = dataclasses.replace(cfg, teacher=str(Path(teacher).expanduser()))
    ctx = Context(cfg, progress)
    if original_teacher:
        ctx.original_teacher = check_model_dir(original_teacher, "original teacher")
    inputs = {"--teacher": ctx.teacher_src, "--original-teacher": original_teacher,
              **(_read_inputs(cfg, student) if restart else {})}   # a student init inside OUT is fine to resume
    with writing(Path(out), "run", restart=restart, inputs=inputs) if is_main() else contextlib.nullcontext():
        barrier()
        return distill_into(ctx, student, Path(out))


def evaluate_mlm(model: str | Path, cfg: Config | None = None, *, progress: bool = True) -> dict:
    """Masked-token accuracy and perplexity of a model directory on the config's evaluation text
    (WikiText-2 valid from the data root, else the corpus's held-out split) with a fixed mask. Returns
    {text, accuracy (0–1), perplexity, targets, …, interval: {accuracy, perplexity: 95% bootstrap
    interval over sequences}, per_sequence: per-sequence scores (bootstrap.py)}. BertdistilError for a model
    without a trained MLM head (a sentence encoder, a fine-tuned classifier), whose scores would be a random
    head's."""
    from .errors import BertdistilError
    from .evaluation.bootstrap import summarised
    from .models.loading import load_masked_lm
    from .pipeline.context import Context
    masked_lm, missing = load_masked_lm(model)
    if missing:
        raise BertdistilError(f"{model} has no MLM head ({len(missing)} head tensors missing, e.g. {missing[0]}): "
                              f"fit one with `bertdistil prepare-teacher --teacher {model}`, or pass a masked-LM")
    ctx = Context(cfg or load_config(), progress)
    result = ctx.evaluate(masked_lm.to(ctx.device))
    return {"text": ctx.eval_source["description"], **summarised(result), "baseline": ctx.mlm_baseline(),
            "per_sequence": result["per_sequence"]}


def mlm_baseline(cfg: Config | None = None, *, progress: bool = True) -> dict:
    """The masked-LM baseline of the config's evaluation text and mask: always predict the training corpus's
    most frequent non-special token (evaluate.unigram_baseline). Returns {text, accuracy (0–1), perplexity,
    loss (nats/token), targets, token_id, token}; needs the teacher only for its tokenizer."""
    from .pipeline.context import Context
    ctx = Context(cfg or load_config(), progress)
    return {"text": ctx.eval_source["description"], **ctx.mlm_baseline()}


def finetune(model: str | Path, task: str, out: str | Path, cfg: Config | None = None, *, seed: int = 1,
             train: str | None = None, dev: str | None = None, regression: bool = False,
             teacher_model: str | Path | None = None, progress: bool = True, max_train_examples: int = 0,
             max_eval_examples: int = 0) -> dict:
    """Fine-tune a model directory on a built-in task (GLUE name or IMDb, from the data root) or your
    ``train``/``dev`` files, and save it to ``out`` with its label names, task record and model card.
    ``teacher_model`` (a model fine-tuned on the task) turns on task distillation ("DistilBERT (D)"). The
    whole train and dev splits are used unless ``max_train_examples`` / ``max_eval_examples`` (> 0) ask for
    seeded samples; the preset's protocol caps are ``reproduce``'s. Returns {task, accuracy / f1 / mcc /
    pearson / spearman (percent), train_examples, dev_examples, …} on the dev split."""
    from .downstream.single_task import finetune_model
    return finetune_model(Path(model), task, Path(out), cfg or load_config(), seed=seed, train=train, dev=dev,
                          regression=regression, teacher_model=teacher_model, progress=progress,
                          caps=(max_train_examples, max_eval_examples))


def reproduce(cfg: Config, out: str | Path, *, restart: bool = False, progress: bool = True) -> dict:
    """The whole recipe into ``out`` (teacher preparation → student → distillation → controls → masked-LM
    evaluation → downstream → efficiency → report); resumable, locked against a second writer. ``out`` may
    only be new, empty or a bertdistil run folder (ownership.py); ``restart`` empties such a folder first.
    Returns the dict written to OUT/results.json. BertdistilError for a refused ``out`` or bad inputs."""
    from .pipeline.reproduce import reproduce as _reproduce
    from .runfolder.ownership import writing
    inputs = {"--teacher": cfg.teacher, **(_read_inputs(cfg) if restart else {})}
    with writing(Path(out), "run", restart=restart, inputs=inputs):
        return _reproduce(cfg, Path(out), progress=progress)


def _read_inputs(cfg: Config, student: str | Path | None = None) -> dict:
    """The folders and files a run reads besides its teacher, which ``--restart`` must never empty: the
    corpus files (globs left out), the evaluation text, the data root, the cache, a given student init."""
    from .data.shipped import cache_dir
    corpus = {f"--corpus {c}": c for c in cfg.corpus if not any(ch in str(c) for ch in "*?[")}
    return {**corpus, "eval.corpus": cfg.eval.corpus if cfg.eval.corpus != "heldout" else None,
            "--data-dir": cfg.data_dir, "the cache": cache_dir(cfg.cache_dir), "--student": student}
