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

from ..atomic import write_json
from ..config import BenchConfig, Config
from ..console import StageLog, stage
from ..data.benchmark_root import manifest, skipped_notice, squad_files
from ..data.senteval import senteval_dir
from ..data.shipped import default_corpus
from ..data.tasks import builtin_tasks
from ..deploy.bench import write_bench_texts
from ..deploy.edge_bench import edge_results
from ..downstream.protocol import downstream_results
from ..evaluation.bootstrap import mlm_uncertainty
from ..evaluation.mlm import fill_mask_examples
from ..evaluation.sentence_suite import GLUE_PROBES, suite_results
from ..models.cards import hub_id, teacher_license, write_run_cards
from ..models.loading import describe, load_masked_lm, load_tokenizer, n_layers
from ..models.student import init_student_dir, resolve_layer_map
from ..report.run_report import write_report
from ..runfolder.layout import RunLayout, cached_json
from ..runfolder.provenance import machine, portable, provenance
from .context import Context
from .efficiency_stages import bench_results, compress_results, train_throughput_results
from .recipes import CONTROLS, recipe
from .stages import check_out_dir, evaluated, teacher_for, train_stage


def write_results(results: dict, out: Path, ctx: Context) -> None:
    """OUT/results.json, its paths relative to the run, cache or data root (provenance.portable): the dict in
    memory keeps the absolute ones."""
    write_json(portable(results, out, ctx.cache, ctx.root), RunLayout(out).results)


def run_recipe(cfg: Config, out: Path, progress: bool = True) -> dict:
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
        teacher_dir, prep = teacher_for(ctx)
        teacher = ctx.load(teacher_dir).eval()
        init_student_dir(teacher, teacher_dir, ctx.tokenizer, layout.student_init, cfg.layer_map, cfg.fold_token_type)
        ctx.tokenizer = load_tokenizer(layout.student_init)   # saved with every trained student: no token types
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
    if cfg.sentence_eval is not None and ctx.root is not None:
        with log.stage("sentence_eval"):
            results["sentence_eval"] = sentence_eval_results(ctx, layout)
        write_results(results, out, ctx)
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
        write_report(out, results, {k: v.get("log", []) for k, v in trained.items()})
    return results


def stage_names(cfg: Config, root: Path | None) -> list[str]:
    """The stages ``reproduce`` goes through with this config and data root, in order (its stage lines)."""
    trained = [n for n in cfg.controls if recipe(n, CONTROLS, "control").loss is not None]
    compress = cfg.compress is not None and cfg.finetune is not None and root is not None
    wanted = [("sentence_eval", cfg.sentence_eval is not None and root is not None),
              ("downstream", cfg.finetune is not None and root is not None), ("bench", cfg.bench is not None),
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


def sentence_eval_models(ctx: Context, layout: RunLayout) -> dict[str, Path]:
    """The pre-trained models of a run a sentence encoder is judged on: the teacher as the user gave it, the
    truncated control, the student and every trained control."""
    models = {"teacher": ctx.teacher_src, "truncated": layout.student_init, "student": layout.student}
    models |= {name: layout.control(name) for name in ctx.cfg.controls if name not in models}
    return {k: Path(v) for k, v in models.items() if (Path(v) / "config.json").is_file()}


def sentence_eval_results(ctx: Context, layout: RunLayout) -> dict:
    """``sentence_eval``: zero-shot STS and linear probes (evaluation.sentence_suite) of every model of
    ``sentence_eval_models``, cached in OUT/sentence_eval/<model>.json."""
    return suite_results(sentence_eval_models(ctx, layout), ctx.root, layout.sentence_eval, ctx.cfg.sentence_eval,
                         seed=0, device=str(ctx.device), progress=ctx.progress)


def skipped_stages(cfg: Config, root: Path | None) -> list[str]:
    """The configured stages that cannot run without a benchmark data root ([] when there is one)."""
    if root is not None:
        return []
    wanted = [("sentence_eval (STS, SentEval, GLUE probes)", cfg.sentence_eval is not None),
              ("downstream (GLUE, IMDb, SQuAD)", cfg.finetune is not None),
              ("compress", cfg.compress is not None and cfg.finetune is not None)]
    return [name for name, on in wanted if on]


def data_record(ctx: Context, skipped: list[str]) -> dict:
    """results.json "data": the data root, every benchmark file the configured stages read (sha256), the
    masked-LM evaluation text, and the stages skipped for lack of data."""
    cfg, root = ctx.cfg, ctx.root
    paths = [Path(f) for f in ctx.eval_source["files"]] if ctx.eval_source["name"] == "wikitext2_valid" else []
    if root is not None:
        tasks = builtin_tasks(root)
        names = set()
        if cfg.finetune is not None:
            names |= set(cfg.finetune.tasks) | set(cfg.finetune.extra_tasks)
            names |= set(cfg.compress.tasks) if cfg.compress is not None else set()
            paths += squad_files(root) if cfg.finetune.squad else []
        if cfg.sentence_eval is not None:
            names |= {*GLUE_PROBES, "STS-B"}
            folder = senteval_dir(root)
            paths += [folder] if folder else []
        for name in sorted(n for n in names if n in tasks):
            paths += [f for split in ("train", "dev") for f in tasks[name].files.get(split, [])]
        if cfg.bench is not None:
            paths += tasks["STS-B"].files.get("dev", [])
    return {**manifest(root, paths), "eval": ctx.eval_source["name"], "skipped": skipped}


def efficiency_stages(ctx: Context, layout: RunLayout, teacher, log: StageLog | None = None) -> dict:
    """bench (Table 3), compress (needs finetune and a data root), edge (needs compress on SST-2) and
    train_throughput, as the config asks;
    each cached in OUT. Table 3 times STS-B dev when the data root has it, else held-out corpus text."""
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
        with stage(log, "edge"):
            res["edge"] = edge_results(out, cfg)
    elif log is not None and "edge" in log.names:
        log.skip("edge", "no compressed SST-2 student")
    if cfg.train_bench is not None:
        with stage(log, "train_bench"):
            res["train_throughput"] = cached_json(layout.train_throughput, lambda: train_throughput_results(
                ctx.load(layout.student_init), teacher, ctx.dataset, ctx.masker, cfg))
    return res
