"""``bertdistil ablate``: the paper's Table 4 — GLUE macro-score change of each ablated recipe relative
to the full one (triple loss + teacher-layer initialisation), same token budget and downstream protocol.

Rows (paper values from arXiv:1910.01108 v4, Table 4, GLUE macro-score deltas):
  full          triple loss, student initialised from teacher layers (one out of two)   reference
  no_ce         α_ce = 0 (no soft-target KL)                                            −2.96
  no_cos        α_cos = 0                                                               −1.46
  no_mlm        α_mlm = 0                                                               −0.31
  random_init   triple loss, randomly initialised student                               −3.69
  first_half    teacher layers 0 … n/2−1 instead of every other layer (not in the paper)
  ce_mask_swap  restrict_ce_to_mask flipped w.r.t. the preset (not in the paper)
Every row distils for ``distill.max_steps`` (the budget flag) on the same batches and seed, then
fine-tunes the student on ``finetune.tasks`` with the preset's protocol (median over its seeds).
Each row is cached under OUT/ablation/<row>/, so a killed run resumes.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from ..atomic import write_json
from ..config import Config
from ..data.tasks import builtin_tasks
from ..downstream.protocol import protocol_dir, run_task
from ..errors import BertdistilError
from ..evaluation.seedstats import macro_per_seed
from ..models.loading import load_tokenizer, n_layers
from ..models.student import init_student_dir
from ..report.ablation_table import table4
from ..runfolder.layout import RunLayout
from ..runfolder.provenance import portable
from .recipes import ABLATION_ROWS, RECIPES, resolve
from .stages import check_out_dir, teacher_for, train_stage

PAPER_DELTA = {row: RECIPES[row].paper_delta for row in ABLATION_ROWS if RECIPES[row].paper_delta is not None}
DESCRIPTION = {row: RECIPES[row].description for row in ABLATION_ROWS}


def row_recipe(row: str, cfg: Config, n_teacher: int) -> tuple:
    """(loss config, layer map or None, random_init) of an ablation row (recipes.RECIPES); BertdistilError if
    unknown."""
    return resolve(row, cfg, n_teacher, ABLATION_ROWS, "ablation row")


def run_ablation(ctx, out: Path, rows: list[str]) -> dict:
    """Distil + fine-tune every row; returns {"ablation": {row: {glue_macro (tasks' medians over seeds,
    averaged), seed_macro (macro-score of each seed), delta, tokens, paper_delta, per_task}}, "protocol": ...}
    and writes OUT/results.json and OUT/report.md (Table 4)."""
    cfg = ctx.cfg
    if cfg.finetune is None:
        raise BertdistilError(f"preset {cfg.preset} has no 'finetune' section: ablate needs a downstream protocol")
    out = Path(out)
    check_out_dir(out, cfg)
    teacher_dir, _ = teacher_for(ctx)
    teacher = ctx.load(teacher_dir).eval()
    tasks = builtin_tasks(ctx.root)
    missing = [t for t in cfg.finetune.tasks if not {"train", "dev"} <= set(tasks[t].files)]
    if missing:
        raise BertdistilError(f"ablate fine-tunes on {', '.join(missing)}, whose data is not found: pass "
                              "--data-dir DIR (or set BERTDISTIL_DATA) to a folder with glue/<TASK>/")
    results = {}
    for row in ["full", *[r for r in rows if r != "full"]]:
        loss, layers, random_init = row_recipe(row, cfg, n_layers(teacher.config))
        row_dir = RunLayout(out).ablation_row(row)
        init_dir = row_dir.student_init
        torch.manual_seed(cfg.seed)      # random_init draws its weights here: the same on every run
        init_student_dir(teacher, teacher_dir, load_tokenizer(teacher_dir), init_dir, layers, cfg.fold_token_type,
                         random_init)
        ctx.tokenizer = load_tokenizer(init_dir)
        summary = train_stage(ctx, row, init_dir, teacher, loss, row_dir.train_dir("student"), row_dir.student)
        scores, per_seed = {}, {}
        for name in cfg.finetune.tasks:
            spec = tasks[name]
            fc = replace(cfg.finetune, models=["student"])
            r = run_task(spec, {"student": row_dir.student}, replace(cfg, finetune=fc),
                         protocol_dir(row_dir.root, cfg), cfg.finetune.seeds, ctx.progress, ctx.device)
            scores[name] = r["student"][spec.metrics[0]]
            per_seed[name] = r["student"]["seeds"][spec.metrics[0]]
        macro = sum(scores.values()) / len(scores)
        seed_macro = macro_per_seed(per_seed)                              # macro-score of each fine-tuning seed
        results[row] = {"glue_macro": macro, "seed_macro": seed_macro, "per_task": scores,
                        "tokens": summary["tokens_seen"],
                        "steps": summary["steps"], "description": DESCRIPTION[row],
                        "paper_delta": PAPER_DELTA.get(row)}
    for r in results.values():
        r["delta"] = r["glue_macro"] - results["full"]["glue_macro"]
    res = {"ablation": results, "protocol": {
        "distill_steps": cfg.distill.max_steps, "sequences_per_step": cfg.distill.batch_size
        * cfg.distill.gradient_accumulation_steps, "tasks": cfg.finetune.tasks, "seeds": cfg.finetune.seeds,
        "max_train_examples": cfg.finetune.max_train_examples, "lr": cfg.finetune.lr, "epochs": cfg.finetune.epochs},
        "config": cfg.to_dict()}
    write_json(portable(res, out, ctx.cache, ctx.root), RunLayout(out).results)
    RunLayout(out).report.write_text("\n".join(table4(res)) + "\n")
    return res
