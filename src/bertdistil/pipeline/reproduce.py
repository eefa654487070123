"""``bertdistil reproduce``: prepare teacher → build student → distil → controls → evaluate → report.

Every stage writes its output under OUT and is skipped when that output exists, and training
stages resume from their checkpoints, so re-running the same command after a kill continues.
Without a benchmark data root (dataroot.py) the downstream and compress stages are skipped with a
one-line notice, and masked-LM evaluation reads the held-out split of the training corpus.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..atomic import save_model_dir, write_json
from ..config import BenchConfig, Config, LossConfig
from ..console import StageLog, stage
from ..data.benchmark_root import manifest, resolve_data_root, skipped_notice, squad_files
from ..data.shipped import default_corpus
from ..errors import BertdistilError
from ..evaluation.bootstrap import mlm_uncertainty
from ..models.cards import write_run_cards
from ..models.loading import check_model_dir, describe, load_masked_lm, load_tokenizer, n_layers
from ..models.modelcard import hub_id, teacher_license
from ..models.sentence import copy_sentence_config
from ..models.student import build_student, prepare_tokenizer_for, resolve_layer_map
from ..runfolder.layout import RunLayout, cached_json
from ..runfolder.ownership import contents
from ..runfolder.provenance import machine, portable, provenance
from ..training.distributed import rank_world
from ..training.loop import train
from ..training.teacher_prep import prepare_teacher
from .context import Context
from .recipes import CONTROLS, recipe


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
    student = ctx.load(init_dir)
    hidden = ctx.load(ctx.original_teacher).eval() if loss.needs_teacher and loss.hidden_teacher == "original" else None
    summary = train(student, teacher if loss.needs_teacher else None, ctx.tokenizer, ctx.dataset, ctx.masker, loss,
                    ctx.cfg.distill, run_dir, seed=ctx.cfg.training_seed, bf16=ctx.cfg.bf16, resume=True, desc=name,
                    progress=ctx.progress, cpu_kernels=ctx.cfg.cpu_kernels, bf16_teacher=ctx.cfg.bf16_teacher,
                    eval_fn=lambda m: ctx.evaluate(m, quick=True), final_dir=final_dir, hidden_teacher=hidden)
    copy_sentence_config(init_dir, final_dir)
    return summary


def fill_mask_examples(model_dir: Path, prompts: list[str], top_k: int = 5) -> dict:
    """{prompt: [(token, probability), ...]} from ``transformers.pipeline('fill-mask')`` on a directory; a
    ``[MASK]`` in a prompt stands for the model's own mask token (``<mask>`` for MPNet and RoBERTa)."""
    from transformers import pipeline
    fill = pipeline("fill-mask", model=str(model_dir), tokenizer=str(model_dir), device="cpu")
    mask = fill.tokenizer.mask_token
    return {p: [(r["token_str"], round(float(r["score"]), 4)) for r in fill(p.replace("[MASK]", mask), top_k=top_k)]
            for p in prompts}


# sections that leave the pre-trained models as they are
POST_TRAINING = ("finetune", "bench", "compress", "train_bench", "edge")
# how, not what it trains (the precision as resolved is compared through the recorded "bf16")
EXECUTION = ("world_size", "precision", "cpu_kernels", "bf16_teacher", "threads", "device", "data_dir")


def _comparable(config: dict, world: int) -> dict:
    """Pre-training settings that must match to resume: all but POST_TRAINING sections and EXECUTION
    settings, with gradient accumulation counted over all processes (world × accumulation), so another
    world size, thread count, device or kernel choice may resume a run."""
    out = {k: v for k, v in config.items() if k not in POST_TRAINING and k not in EXECUTION}
    d = out["distill"]                     # the stage torchrun runs (``bertdistil distill``)
    out["distill"] = {**d, "gradient_accumulation_steps": d["gradient_accumulation_steps"] * world}
    return out


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


def write_results(results: dict, out: Path, ctx: Context) -> None:
    """OUT/results.json, its paths relative to the run, cache or data root (provenance.portable): the dict in
    memory keeps the absolute ones."""
    write_json(portable(results, out, ctx.cache, ctx.root), RunLayout(out).results)


def reproduce(cfg: Config, out: Path, progress: bool = True) -> dict:
    """Run the whole DistilBERT recipe into ``out``; returns the results dict written to results.json.

    Without a data root the stages that need benchmark data are skipped and one line says so (stderr)."""
    out = Path(out)
    fresh = not RunLayout(out).config.is_file()        # no stage of this run was made by an earlier invocation
    check_out_dir(out, cfg)
    t_start = time.perf_counter()
    ctx = Context(cfg, progress)
    skipped = skipped_stages(cfg, ctx.root)
    if ctx.root is None:
        print(skipped_notice(skipped), file=sys.stderr)
    ctx.read_inputs()                                   # a bad corpus is one line, before any stage line
    log = StageLog(stage_names(cfg, ctx.root))
    layout = RunLayout(out)
    with log.stage("teacher"):
        teacher_dir, prep = prepare_teacher(ctx.teacher_src, cfg, ctx.tokenizer, ctx.dataset, ctx.masker, ctx.cache,
                                            progress=progress, device=ctx.device)
        teacher = ctx.load(teacher_dir).eval()
        init_dir = layout.student_init
        if not (init_dir / "config.json").is_file():
            student, _ = build_student(teacher, cfg.layer_map, cfg.fold_token_type)
            save_model_dir(student, prepare_tokenizer_for(student, ctx.tokenizer), init_dir)
        copy_sentence_config(teacher_dir, init_dir)
        ctx.tokenizer = load_tokenizer(init_dir)          # saved with every trained student: no token_type_ids
    trained, mlm = pretraining_stages(ctx, layout, teacher, teacher_dir, log)
    mlm, mlm_comparisons = mlm_uncertainty(mlm)          # bootstrap intervals over the evaluated sequences
    student_model, _ = load_masked_lm(layout.student)
    results = {
        "preset": cfg.preset,
        "teacher": {**describe(teacher, teacher_dir), "source": str(ctx.teacher_src), "hub_id": hub_id(ctx.teacher_src),
                    "license": teacher_license(ctx.teacher_src), "preparation": prep},
        "student": {**describe(student_model, layout.student), "layer_map":
                    resolve_layer_map(n_layers(teacher.config), cfg.layer_map)},
        "corpus": ctx.dataset.meta,
        "eval_corpus": {**ctx.eval_set.dataset.meta, "name": ctx.eval_source["name"],
                        "description": ctx.eval_source["description"], "targets": ctx.eval_set.n_targets,
                        "evaluated_sequences": ctx.eval_set.n,
                        "evaluated_tokens": int(ctx.eval_set.dataset.offsets[ctx.eval_set.n])},
        "mlm": mlm,
        "mlm_comparisons": mlm_comparisons,
        "mlm_baseline": ctx.mlm_baseline(),
        "distill": {k: v for k, v in trained["student"].items() if k != "log"},
        "controls": {k: {kk: vv for kk, vv in v.items() if kk != "log"} for k, v in trained.items() if k != "student"},
        "fill_mask": {"teacher": fill_mask_examples(teacher_dir, cfg.fill_mask_prompts),
                      "student": fill_mask_examples(layout.student, cfg.fill_mask_prompts)},
        "machine": machine(),
        "provenance": provenance({"teacher": teacher_dir, "source": ctx.teacher_src}, ctx.dataset.meta["files"]),
        "data": data_record(ctx, skipped),
        "wall_s_this_invocation": time.perf_counter() - t_start,
        "config": cfg.to_dict(),
    }
    try:
        earlier = json.loads(layout.results.read_text()) if layout.results.is_file() else {}
    except ValueError:
        earlier = {}
    write_json({"name_or_path": str(teacher_dir), "source": str(ctx.teacher_src)}, layout.teacher_dirs)
    write_results({**earlier, **results}, out, ctx)   # later stages' results stay until they are redone
    if cfg.finetune is not None and ctx.root is not None:
        t_ds = time.perf_counter()
        with log.stage("downstream"):
            results.update(downstream_results(out, cfg, progress, ctx.device))
        results["wall_s_downstream_this_invocation"] = time.perf_counter() - t_ds
        write_results(results, out, ctx)
    results.update(efficiency_stages(ctx, layout, teacher, log))
    results["wall_s_this_invocation"] = time.perf_counter() - t_start
    results["single_invocation"] = fresh and not prep.get("from_cache", False)
    with log.stage("report"):
        write_results(results, out, ctx)
        write_run_cards(out, results)
        from ..report.run_report import write_report
        write_report(out, results, {k: v.get("log", []) for k, v in trained.items()})
    return results


def stage_names(cfg: Config, root: Path | None) -> list[str]:
    """The stages ``reproduce`` goes through with this config and data root, in order (its stage lines)."""
    trained = [n for n in cfg.controls if recipe(n, CONTROLS, "control").loss is not None]
    compress = cfg.compress is not None and cfg.finetune is not None and root is not None
    wanted = [("downstream", cfg.finetune is not None and root is not None), ("bench", cfg.bench is not None),
              ("compress", compress), ("edge", cfg.edge is not None and compress and "SST-2" in cfg.compress.tasks),
              ("train_bench", cfg.train_bench is not None)]
    return ["teacher", "distil", *trained, *[n for n, on in wanted if on], "report"]


def pretraining_stages(ctx: Context, layout: RunLayout, teacher, teacher_dir: Path,
                       log: StageLog | None = None) -> tuple[dict, dict]:
    """Distil the student and train the controls (each resumable), evaluating every model once.
    Returns ({run name: training summary}, {model: masked-LM result}); results cached in OUT/eval/<text>/."""
    cfg, text, init_dir = ctx.cfg, ctx.eval_source["name"], layout.student_init
    with stage(log, "distil"):
        mlm = {"teacher": evaluated(ctx, teacher_dir, layout.eval_file(text, "teacher"))}
        if "truncated" in cfg.controls:
            mlm["truncated"] = evaluated(ctx, init_dir, layout.eval_file(text, "truncated"))
        trained: dict[str, dict] = {}
        trained["student"] = train_stage(ctx, "distil", init_dir, teacher, cfg.loss, layout.train_dir("student"),
                                         layout.student)
        mlm["student"] = evaluated(ctx, layout.student, layout.eval_file(text, "student"))
    for name in cfg.controls:
        loss = recipe(name, CONTROLS, "control").loss
        if loss is None:                 # the truncated teacher: evaluated above, not trained
            continue
        with stage(log, name):
            trained[name] = train_stage(ctx, name, init_dir, teacher, loss(cfg.loss), layout.train_dir(name),
                                        layout.control(name))
            mlm[name] = evaluated(ctx, layout.control(name), layout.eval_file(text, name))
    return trained, mlm


def skipped_stages(cfg: Config, root: Path | None) -> list[str]:
    """The configured stages that cannot run without a benchmark data root ([] when there is one)."""
    if root is not None:
        return []
    wanted = [("downstream (GLUE, IMDb, SQuAD)", cfg.finetune is not None),
              ("compress", cfg.compress is not None and cfg.finetune is not None)]
    return [name for name, on in wanted if on]


def data_record(ctx: Context, skipped: list[str]) -> dict:
    """results.json "data": the data root, every benchmark file the configured stages read (sha256), the
    masked-LM evaluation text, and the stages skipped for lack of data."""
    from ..data.tasks import builtin_tasks
    cfg, root = ctx.cfg, ctx.root
    paths = [Path(f) for f in ctx.eval_source["files"]] if ctx.eval_source["name"] == "wikitext2_valid" else []
    if root is not None:
        tasks = builtin_tasks(root)
        names = set()
        if cfg.finetune is not None:
            names |= set(cfg.finetune.tasks) | set(cfg.finetune.extra_tasks)
            names |= set(cfg.compress.tasks) if cfg.compress is not None else set()
            paths += squad_files(root) if cfg.finetune.squad else []
        for name in sorted(n for n in names if n in tasks):
            paths += [f for split in ("train", "dev") for f in tasks[name].files.get(split, [])]
        if cfg.bench is not None:
            paths += tasks["STS-B"].files.get("dev", [])
    return {**manifest(root, paths), "eval": ctx.eval_source["name"], "skipped": skipped}


def efficiency_stages(ctx: Context, layout: RunLayout, teacher, log: StageLog | None = None) -> dict:
    """bench (Table 3), compress (needs finetune and a data root), edge (needs compress on SST-2) and
    train_throughput, as the config asks;
    each cached in OUT. Table 3 times STS-B dev when the data root has it, else held-out corpus text."""
    from ..deploy.bench import write_bench_texts
    from .efficiency_stages import bench_results, compress_results, train_throughput_results
    cfg, res, out = ctx.cfg, {}, layout.root
    texts = layout.bench_texts
    if cfg.bench is not None or cfg.compress is not None:
        write_bench_texts(texts, ctx.root, (cfg.bench or BenchConfig()).max_pairs, cfg.corpus or default_corpus(),
                          cfg.eval.heldout_every)
    if cfg.bench is not None:
        with stage(log, "bench"):
            res["bench"] = bench_results(out, cfg, texts)
    if cfg.compress is not None and cfg.finetune is not None and ctx.root is not None:
        with stage(log, "compress"):
            comp = compress_results(out, cfg, res.get("bench", {}), texts, ctx.progress, ctx.device)
        if comp is not None:
            res["compress"] = comp
    if cfg.edge is not None and "SST-2" in res.get("compress", {}).get("protocol", {}).get("tasks", []):
        from ..deploy.edge_bench import edge_results
        with stage(log, "edge"):
            res["edge"] = edge_results(out, cfg)
    elif log is not None and "edge" in log.names:
        log.skip("edge", "no compressed SST-2 student")
    if cfg.train_bench is not None:
        with stage(log, "train_bench"):
            res["train_throughput"] = cached_json(layout.train_throughput, lambda: train_throughput_results(
                ctx.load(layout.student_init), teacher, ctx.dataset, ctx.masker, cfg))
    return res


def downstream_results(out: Path, cfg: Config, progress: bool, device) -> dict:
    """Tables 1–2 inputs for a finished pre-training run: glue, glue_macro, retention, imdb, squad.
    BertdistilError without a data root."""
    from ..downstream.protocol import run_downstream, run_squad
    root = resolve_data_root(cfg.data_dir)
    if root is None:
        raise BertdistilError("downstream evaluation needs the benchmark data: pass --data-dir DIR or set "
                              "BERTDISTIL_DATA (a folder with glue/, imdb/, squad/)")
    ds = run_downstream(out, cfg, root, progress, device)
    res = {"downstream": ds, "glue": ds["glue"], "glue_macro": ds["glue_macro"], "retention": ds["retention"],
           "imdb": ds["extra"].get("IMDb")}
    if cfg.finetune.squad and squad_files(root):
        res["squad"] = run_squad(out, cfg, root, progress, device)
    elif cfg.finetune.squad:
        print(f"bertdistil: SQuAD: no dev-v1.1.json[.gz] or validation split under {root / 'squad'}: skipped",
              file=sys.stderr)
    return res


def reproduce_command(args, cfg: Config) -> int:
    """``bertdistil reproduce``: the whole recipe into --out (locked; --restart empties it first)."""
    from ..api import reproduce as run
    res = run(cfg, args.out, restart=args.restart, progress=not args.quiet)
    print(json.dumps({"out": str(args.out), "report": str(RunLayout(args.out).report),
                      "mlm_accuracy": {k: round(v["accuracy"], 4) for k, v in res["mlm"].items()}}, indent=1))
    return 0


def fill_mask_command(args, cfg=None) -> int:
    """``bertdistil fill-mask``: top predictions for prompts that contain the model's mask token."""
    from ..models.loading import load_tokenizer
    model_dir = check_model_dir(args.model)
    mask = load_tokenizer(model_dir).mask_token
    for prompt in args.prompts:
        if mask not in prompt:
            raise BertdistilError(f"prompt {prompt!r} has no {mask}: put {mask} where the word to predict is")
    print(json.dumps(fill_mask_examples(model_dir, args.prompts, args.top_k), indent=1))
    return 0
