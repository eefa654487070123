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

from ..atomic import save_model_dir, write_json
from ..config import Config
from ..downstream.protocol import protocol_dir, run_task
from ..errors import BertdistilError
from ..evaluation.seedstats import compare, macro_per_seed, verdict
from ..models.loading import load_tokenizer, n_layers
from ..models.sentence import copy_sentence_config
from ..models.student import build_student, prepare_tokenizer_for
from ..runfolder.layout import RunLayout
from ..runfolder.provenance import portable
from .recipes import ABLATION_ROWS, RECIPES, resolve

PAPER_TABLE4 = {row: RECIPES[row].paper_delta for row in ABLATION_ROWS if RECIPES[row].paper_delta is not None}
ROWS = ABLATION_ROWS
DESCRIPTION = {row: RECIPES[row].description for row in ABLATION_ROWS}


def row_recipe(row: str, cfg: Config, n_teacher: int) -> tuple:
    """(loss config, layer map or None, random_init) of an ablation row (recipes.RECIPES); BertdistilError if
    unknown."""
    return resolve(row, cfg, n_teacher, ABLATION_ROWS, "ablation row")


def ablate(ctx, out: Path, rows: list[str]) -> dict:
    """Distil + fine-tune every row; returns {"ablation": {row: {glue_macro (tasks' medians over seeds,
    averaged), seed_macro (macro-score of each seed), delta, tokens, paper_delta, per_task}}, "protocol": ...}
    and writes OUT/results.json and OUT/report.md (Table 4)."""
    from ..data.tasks import builtin_tasks
    from ..training.teacher_prep import prepare_teacher
    from .reproduce import check_out_dir, train_stage
    cfg = ctx.cfg
    if cfg.finetune is None:
        raise BertdistilError(f"preset {cfg.preset} has no 'finetune' section: ablate needs a downstream protocol")
    out = Path(out)
    check_out_dir(out, cfg)
    teacher_dir, _ = prepare_teacher(ctx.teacher_src, cfg, ctx.tokenizer, ctx.dataset, ctx.masker, ctx.cache,
                                     progress=ctx.progress, device=ctx.device)
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
        if not (init_dir / "config.json").is_file():
            torch.manual_seed(cfg.seed)  # random_init draws its weights here: the same on every run
            student, _ = build_student(teacher, layers, cfg.fold_token_type, random_init=random_init)
            save_model_dir(student, prepare_tokenizer_for(student, load_tokenizer(teacher_dir)), init_dir)
        copy_sentence_config(teacher_dir, init_dir)
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
                        "paper_delta": PAPER_TABLE4.get(row)}
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


def table4(res: dict) -> list[str]:
    """Markdown Table 4: row | GLUE macro | Δ vs full (ours) | Δ (paper) | tokens, plus the protocol."""
    p = res["protocol"]
    lines = ["## Table 4 — ablation (GLUE macro-score relative to the full recipe)", "",
             f"Every row: {p['distill_steps']} distillation steps × {p['sequences_per_step']} sequences; "
             f"fine-tuned on {', '.join(p['tasks'])} (≤ {p['max_train_examples'] or 'all'} train examples, "
             f"{p['epochs']} epochs, lr {p['lr']}, median of seeds {p['seeds']}). Paper deltas: arXiv:1910.01108 "
             "Table 4 (full GLUE, paper budget).", "",
             "| ablation | GLUE macro (ours) | per-seed macro (min–max) | Δ ours | |Δ| beyond seed spread | Δ paper | "
             "distilled tokens |",
             "|---|---:|---:|---:|---|---:|---:|"]
    full = res["ablation"]["full"].get("seed_macro") or [res["ablation"]["full"]["glue_macro"]]
    for key, r in res["ablation"].items():
        paper = "" if r["paper_delta"] is None else f"{r['paper_delta']:+.2f}"
        seeds = r.get("seed_macro") or [r["glue_macro"]]
        beyond = "" if key == "full" else verdict(compare(*((full, seeds) if r["delta"] < 0 else (seeds, full))))
        lines.append(f"| {r['description']} | {r['glue_macro']:.2f} | {min(seeds):.2f}–{max(seeds):.2f} | "
                     f"{r['delta']:+.2f} | {beyond} | {paper} | {r['tokens']:,} |")
    ours = sorted((r["delta"], k) for k, r in res["ablation"].items() if k in PAPER_TABLE4)
    paper = sorted((v, k) for k, v in PAPER_TABLE4.items() if k in res["ablation"])
    same = [k for _, k in ours] == [k for _, k in paper]
    lines += ["", f"Ordering of the paper's rows (most harmful first): ours {[k for _, k in ours]}, paper "
              f"{[k for _, k in paper]} — {'the same' if same else 'different'}."]
    return lines


def ablate_command(args, cfg) -> int:
    """``bertdistil ablate``: Table 4 into --out (locked; --restart empties it first), printed when done."""
    from ..runfolder.ownership import writing
    from .context import Context
    ctx = Context(cfg, progress=not args.quiet)
    with writing(args.out, "run", restart=args.restart, inputs={"--teacher": ctx.teacher_src}):
        print("\n".join(table4(ablate(ctx, args.out, args.rows))))
    return 0
