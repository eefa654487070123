"""``bertdistil distill``: one resumable distillation run into a folder of the run layout (OUT/student_init,
OUT/runs/student, OUT/student with its model card), the teacher given on the command line."""
from __future__ import annotations

from pathlib import Path

from ..errors import BertdistilError
from ..evaluation.bootstrap import summarised
from ..models.cards import pretrained_card
from ..models.loading import check_model_dir, describe, load_masked_lm, load_tokenizer, n_layers
from ..models.student import init_student_dir, resolve_layer_map
from ..runfolder.layout import RunLayout
from ..training.distributed import barrier, is_main
from .context import Context
from .stages import check_out_dir, evaluated, train_stage


def distill_into(ctx: Context, student_dir: str | Path | None, out: Path) -> dict | None:
    """Distil ``student_dir`` (default: OUT/student_init, built from the teacher) into OUT/student with the
    teacher ``ctx.teacher_src``; returns {student, mlm, steps, tokens_seen, …} on rank 0, None on the others.
    BertdistilError when the teacher has no MLM head and alpha_ce > 0."""
    cfg = ctx.cfg
    teacher, missing = load_masked_lm(ctx.teacher_src)
    teacher = teacher.to(ctx.device)
    if missing and cfg.loss.alpha_ce:
        raise BertdistilError(f"{ctx.teacher_src} has no MLM head but alpha_ce > 0: run `bertdistil prepare-teacher` "
                              "and pass its directory as --teacher, or use --set loss.alpha_ce=0")
    layout = RunLayout(out)
    init_dir = Path(student_dir) if student_dir else layout.student_init
    if is_main():
        check_out_dir(out, cfg)
        if not student_dir:
            init_student_dir(teacher, ctx.teacher_src, ctx.tokenizer, init_dir, cfg.layer_map, cfg.fold_token_type)
    barrier()
    ctx.tokenizer = load_tokenizer(init_dir)
    summary = train_stage(ctx, "distil", check_model_dir(init_dir, "student"), teacher.eval(), cfg.loss,
                          layout.train_dir("student"), layout.student)
    if not is_main():
        return None
    result = evaluated(ctx, layout.student, layout.eval_file(ctx.eval_source["name"], "student"))
    summary = {k: v for k, v in summary.items() if k != "log"}
    pretrained_card(layout.student, "student", {
        "preset": cfg.preset, "config": cfg.to_dict(), "distill": summary, "mlm": {"student": result},
        "eval_corpus": {"name": ctx.eval_source["name"], "description": ctx.eval_source["description"]},
        "teacher": {**describe(teacher, ctx.teacher_src), "source": str(ctx.teacher_src)},
        "student": {**describe(ctx.load(layout.student), layout.student), "layer_map": None if student_dir else
                    resolve_layer_map(n_layers(teacher.config), cfg.layer_map)}})
    return {"student": layout.student, "mlm": summarised(result), **summary}   # per-sequence scores: OUT/eval/
