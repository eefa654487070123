"""What the drivers share (``reproduce``, ``distill``, ``ablate``, ``bench-train``): the prepared teacher of a
run, training one model of it (resumable), its cached masked-LM result, and the check that a run folder is
resumed only with the settings that made it."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ..atomic import write_json
from ..config import Config, LossConfig
from ..errors import BertdistilError
from ..models.sentence import copy_sentence_config, sentence_pooling
from ..runfolder.layout import RunLayout, cached_json
from ..runfolder.ownership import contents
from ..training.distributed import rank_world
from ..training.loop import TrainOptions, train
from ..training.teacher_prep import prepare_teacher_dir
from .context import Context


def teacher_for(ctx: Context, force: bool = False) -> tuple[Path, dict]:
    """(directory of the run's teacher with an MLM head, preparation info): ``ctx.teacher_src`` as it is when
    it has a head, else fitted once and cached (training.teacher_prep). ``force`` adapts even a teacher that
    has one."""
    return prepare_teacher_dir(ctx.teacher_src, ctx.cfg, ctx.tokenizer, ctx.dataset, ctx.cache, force=force,
                               progress=ctx.progress, device=ctx.device)



def evaluated(ctx: Context, model_dir: Path, cache_file: Path) -> dict:
    """Masked-LM result of ``model_dir`` (with per-sequence scores), cached in ``cache_file``."""
    return cached_json(cache_file, lambda: ctx.evaluate(ctx.load(model_dir)))


def train_stage(ctx: Context, name: str, init_dir: Path, teacher, loss: LossConfig, run_dir: Path,
                final_dir: Path) -> dict:
    """Train ``init_dir`` with ``loss`` into ``final_dir`` (resumable, checkpoints in ``run_dir``); the teacher
    is passed only when the loss needs it, and the original (unprepared) teacher as the hidden-state teacher
    when ``loss.hidden_teacher`` is "original". Returns the summary, cached in RUN_DIR/summary.json."""
    summary_path = run_dir / "summary.json"
    if summary_path.is_file() and (final_dir / "config.json").is_file():
        copy_sentence_config(init_dir, final_dir)
        return json.loads(summary_path.read_text())
    if loss.pooling == "auto":                       # the embedding terms pool as the teacher does
        loss = replace(loss, pooling=sentence_pooling(ctx.teacher_src))
    student = ctx.load(init_dir)
    hidden = ctx.load(ctx.original_teacher).eval() if loss.needs_teacher and loss.hidden_teacher == "original" else None
    cfg = ctx.cfg
    opts = TrainOptions(loss, cfg.distill, seed=cfg.training_seed, bf16=cfg.bf16, fp16=cfg.fp16,
                        bf16_teacher=cfg.bf16_teacher, cpu_kernels=cfg.cpu_kernels, desc=name, progress=ctx.progress,
                        eval_fn=lambda m: ctx.evaluate(m, quick=True), final_dir=final_dir)
    summary = train(student, teacher if loss.needs_teacher else None, ctx.tokenizer, ctx.dataset, ctx.masker, run_dir,
                    opts, hidden_teacher=hidden)
    copy_sentence_config(init_dir, final_dir)
    return summary


# sections that leave the pre-trained models as they are
POST_TRAINING = ("sentence_eval", "finetune", "bench", "compress", "train_bench", "edge")


# how, not what it trains (the precision as resolved is compared through the recorded "bf16")
EXECUTION = ("world_size", "precision", "cpu_kernels", "bf16_teacher", "threads", "device", "data_dir")


def _without_defaults(section: dict, defaults: dict) -> dict:
    return {k: v for k, v in section.items() if k not in defaults or v != defaults[k]}


def _comparable(config: dict, world: int) -> dict:
    """Pre-training settings that must match to resume: all but POST_TRAINING sections and EXECUTION
    settings, with gradient accumulation counted over all processes (world × accumulation), so another
    world size, thread count, device or kernel choice may resume a run. A setting at its built-in default
    counts as absent, so a run made before a setting existed resumes with it at its default."""
    out = {k: v for k, v in config.items() if k not in POST_TRAINING and k not in EXECUTION}
    d = out["distill"]                     # the stage torchrun runs (``bertdistil distill``)
    out["distill"] = {**d, "gradient_accumulation_steps": d["gradient_accumulation_steps"] * world}
    defaults = json.loads(json.dumps(Config().to_dict(), default=str))
    kept = {}
    for k, v in out.items():
        if isinstance(v, dict):
            kept[k] = _without_defaults(v, defaults.get(k) or {})
        elif k not in defaults or v != defaults[k]:
            kept[k] = v
    return kept


def has_stage_output(out: Path) -> bool:
    """True when a run folder holds anything a stage made (more than its config and bookkeeping files): a
    start that failed before its first stage leaves a folder that may be started afresh with other settings."""
    return any(name != RunLayout(out).config.name for name in contents(Path(out)))


def check_out_dir(out: Path, cfg: Config) -> None:
    """Refuse to mix two pre-training configs in one output folder (resume needs the same settings).

    The downstream section may change: its results are cached per protocol (downstream.protocol_dir)."""
    saved = RunLayout(out).config
    world = rank_world()[1]
    new = json.loads(json.dumps(cfg.to_dict(), default=str))
    if saved.is_file() and has_stage_output(out):
        try:
            old = json.loads(saved.read_text())
        except ValueError:
            raise BertdistilError(f"{saved} is not valid JSON: pass a new --out, or --restart to discard the "
                                  "run") from None
        if _comparable(old, old.get("world_size", 1)) != _comparable(new, world):
            raise BertdistilError(f"{saved}: {out} holds a run with other settings; pass a new --out, "
                                  "or --restart to discard it")
    out.mkdir(parents=True, exist_ok=True)
    write_json({**new, "world_size": world}, saved)
