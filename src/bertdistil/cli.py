"""Command line: ``bertdistil <command>``; ``bertdistil --help`` lists the commands, each has its own --help."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from .config import load_config, preset_names
from .errors import BertdistilError

EPILOG = """Examples:
  bertdistil reproduce --preset default --out runs/default
  bertdistil reproduce --preset smoke --out runs/smoke --teacher ~/models/bert-base-uncased --corpus 'text/*.txt.gz'
  bertdistil reproduce --preset default --out runs/hidden --set loss.alpha_ce=0 --set distill.max_steps=300
A killed run continues when the same command is run again (stages are skipped, training resumes
from its last checkpoint). No hub is contacted: every model is a local directory."""


def _data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="benchmark data root with glue/<TASK>/ (GLUE TSV, or the hub's parquet / "
                                      "save_to_disk files), imdb/, squad/, wikitext/ (default: $BERTDISTIL_DATA; none: "
                                      "stages that need it are skipped)")


def _common(p: argparse.ArgumentParser, out_required: bool = False) -> None:
    p.add_argument("--preset", default="default", help=f"preset name ({', '.join(preset_names())}) or a .json config file")
    p.add_argument("--teacher", help="local BERT-family checkpoint directory, with or without MLM head "
                                     "(default: the embedded all-MiniLM-L6-v2)")
    p.add_argument("--corpus", nargs="+", help="text/.gz/.parquet files, globs, or datasets save_to_disk directories "
                                               "(default: shipped Gutenberg + SOTU)")
    _data_dir(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, dotted, JSON value: distill.max_steps=200, loss.alpha_ce=0")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    if out_required:
        p.add_argument("--out", required=True, type=Path, help="output folder")


def _config(args):
    cfg = load_config(args.preset, args.overrides)
    if args.teacher:
        cfg.teacher = str(Path(args.teacher).expanduser())
    if args.corpus:
        cfg.corpus = list(args.corpus)
    if args.data_dir:
        cfg.data_dir = str(Path(args.data_dir).expanduser())
    return cfg


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bertdistil", description="Distil a BERT-family teacher into a student with "
                                 "half the layers (DistilBERT, Sanh et al. 2019) and measure what it keeps.",
                                 epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("reproduce", help="the whole recipe: teacher prep → student init → distil → controls → report")
    _common(p, out_required=True)
    p.add_argument("--restart", action="store_true", help="delete OUT first instead of resuming it")
    p = sub.add_parser("prepare-teacher", help="fit an MLM head (and adapt) a teacher without one; prints its cached directory")
    _common(p)
    p.add_argument("--force", action="store_true", help="adapt even if the teacher already has an MLM head")
    p = sub.add_parser("init-student", help="build the student from a teacher (one layer out of two) and save it")
    p.add_argument("--teacher", required=True, help="teacher directory (with MLM head)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--layers", help="comma-separated teacher layers to copy, e.g. 0,2,4,7,9,11")
    p.add_argument("--random-init", action="store_true", help="same architecture, random weights (ablation)")
    p = sub.add_parser("distill", help="distil one student (resumable); the teacher must have an MLM head if alpha_ce > 0")
    _common(p, out_required=True)
    p.add_argument("--student", help="student init directory (default: built from the teacher)")
    p = sub.add_parser("evaluate-mlm", help="masked-token accuracy and perplexity on WikiText-2 valid from the data "
                       "root, else the corpus's held-out split (fixed mask)")
    _common(p)
    p.add_argument("--model", required=True, help="a *ForMaskedLM checkpoint directory")
    p = sub.add_parser("downstream", help="GLUE/IMDb/SQuAD fine-tuning of the models of a reproduce run (Tables 1-2)")
    _common(p)
    p.add_argument("--run", required=True, type=Path, help="a reproduce output folder")
    p = sub.add_parser("finetune", help="fine-tune one model on one task (built-in GLUE/IMDb, or --train/--dev files)")
    _common(p, out_required=True)
    p.add_argument("--model", required=True, help="model directory (any BERT-family checkpoint)")
    p.add_argument("--task", required=True, help="CoLA, MNLI, MRPC, QNLI, QQP, RTE, SST-2, STS-B, WNLI, IMDb (files "
                                                  "from --data-dir), or a name for your own data")
    p.add_argument("--train", help="your train file: TSV with header, CSV, JSONL, .parquet, or a datasets "
                                   "save_to_disk folder")
    p.add_argument("--dev", help="your dev file (same formats)")
    p.add_argument("--regression", action="store_true", help="your task is a regression (scores)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--teacher-model", help="a model already fine-tuned on the task → task distillation (student (D))")
    p = sub.add_parser("evaluate", help="score a fine-tuned model on a task's dev file")
    _common(p)
    p.add_argument("--model", required=True)
    p.add_argument("--task", help="a built-in task (default: the task recorded by `bertdistil finetune`)")
    p.add_argument("--dev", help="labelled file (default: the task's dev split)")
    p = sub.add_parser("predict", help="GLUE-submission-style predictions (index<TAB>prediction) for any file of the task")
    p.add_argument("--model", required=True, help="a model fine-tuned with `bertdistil finetune`")
    p.add_argument("--task", help="a built-in task (default: the task recorded by `bertdistil finetune`)")
    p.add_argument("--input", required=True, help="a file in the task's format (TSV, parquet…); test files "
                   "without labels work")
    p.add_argument("--output", required=True)
    p = sub.add_parser("bench", help="inference size/speed of model directories on the CPU (paper Table 3) → OUT/bench.json")
    p.add_argument("--models", nargs="+", required=True, metavar="NAME=DIR", help="models to measure, e.g. teacher=DIR")
    p.add_argument("--threads", type=int, nargs="+", default=[1], help="thread counts (paper: 1); e.g. --threads 1 2")
    p.add_argument("--repeats", type=int, default=3, help="full passes per model (median reported)")
    p.add_argument("--max-pairs", type=int, default=0, help="texts per pass (0 = all 1,500 STS-B dev pairs)")
    _data_dir(p)
    p.add_argument("--out", required=True, type=Path)
    p = sub.add_parser("compress", help="INT8 / pruned / ONNX variants of a fine-tuned model, each scored on the task "
                       "and timed (Table 3 protocol) → OUT/compress.json, OUT/compress.md")
    _common(p, out_required=True)
    p.add_argument("--model", required=True, help="a model fine-tuned with `bertdistil finetune`")
    p.add_argument("--task", required=True, help="its task: a built-in name, or your own with --train/--dev")
    p.add_argument("--train", help="your train file (used by the pruning importance and recovery fine-tune)")
    p.add_argument("--dev", help="your dev file (scores)")
    p.add_argument("--regression", action="store_true")
    p.add_argument("--baseline", help="a model directory to time as the 1.00x reference (e.g. the fine-tuned teacher)")
    p.add_argument("--threads", type=int, default=1, help="threads for timing (paper: 1)")
    p = sub.add_parser("bench-train", help="distillation step tokens/s, analytic FLOPs and MFU vs the measured matmul "
                       "peak: bf16 autocast as training runs it (cpu_kernels, bf16 teacher), with stock ops, plain fp32 "
                       "→ OUT/train_throughput.json")
    _common(p, out_required=True)
    p = sub.add_parser("ablate", help="paper Table 4: GLUE macro change without L_ce / L_cos / L_mlm, with random init, "
                       "first-half layers, ce on all tokens → OUT/results.json, OUT/report.md")
    _common(p, out_required=True)
    p.add_argument("--rows", nargs="+", default=["no_ce", "no_cos", "no_mlm", "random_init", "first_half",
                                                  "ce_mask_swap"], help="ablation rows besides 'full'")
    p = sub.add_parser("prepare-corpus", help="tokenise --corpus once into the cache (memmap, streaming, memory "
                       "independent of corpus size); prints its folder, size and MB/s. Run before torchrun")
    _common(p)
    p = sub.add_parser("report", help="regenerate OUT/report.md (+ plots) from OUT/results.json and the run logs")
    p.add_argument("--run", required=True, type=Path, help="a reproduce output folder")
    p = sub.add_parser("fill-mask", help="top predictions of a model directory for prompts containing [MASK]")
    p.add_argument("--model", required=True)
    p.add_argument("prompts", nargs="+")
    p.add_argument("--top-k", type=int, default=5)
    return ap


def run(args) -> int:
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if args.command == "fill-mask":
        from .models import check_model_dir
        from .pipeline import fill_mask_examples
        print(json.dumps(fill_mask_examples(check_model_dir(args.model), args.prompts, args.top_k), indent=1))
        return 0
    if args.command == "init-student":
        from .checkpoint import save_model_dir
        from .models import load_masked_lm, load_tokenizer
        from .student import build_student, prepare_tokenizer_for
        teacher, missing = load_masked_lm(args.teacher)
        if missing:
            print(f"warning: {args.teacher} has no MLM head ({len(missing)} tensors missing); the student's head is random "
                  "— run `bertdistil prepare-teacher` first", file=sys.stderr)
        layers = [int(x) for x in args.layers.split(",")] if args.layers else None
        student, lm = build_student(teacher, layers, random_init=args.random_init)
        save_model_dir(student, prepare_tokenizer_for(student, load_tokenizer(args.teacher)), args.out)
        print(json.dumps({"out": str(args.out), "layer_map": lm, "params": sum(p.numel() for p in student.parameters())}))
        return 0
    if args.command == "report":
        from .report import rewrite_report
        print(rewrite_report(args.run))
        return 0
    if args.command == "bench":
        from .bench import bench_model, table3, write_bench_texts
        from .checkpoint import write_json
        from .dataroot import resolve_data_root
        from .models import check_model_dir
        from .resources import default_corpus
        args.out.mkdir(parents=True, exist_ok=True)
        texts = write_bench_texts(args.out / "bench_texts.json", resolve_data_root(args.data_dir), args.max_pairs,
                                  default_corpus(), 50)
        results = {}
        for item in args.models:
            name, _, path = item.rpartition("=")
            check_model_dir(path)
            for t in args.threads:
                key = f"{name or Path(path).name}@{t}t"
                print(f"bench {key} ...", file=sys.stderr)
                results[key] = bench_model(path, t, args.repeats, texts)
        write_json(results, args.out / "bench.json")
        (args.out / "bench.md").write_text("\n".join(table3(results)) + "\n")
        print("\n".join(table3(results)))
        return 0
    if args.command == "predict":
        from .predict import predict_file
        n = predict_file(args.model, args.task, args.input, args.output)
        print(json.dumps({"output": args.output, "rows": n}))
        return 0
    cfg = _config(args)
    from . import pipeline
    if args.command in ("finetune", "evaluate"):
        from .predict import evaluate_command, finetune_command
        return (finetune_command if args.command == "finetune" else evaluate_command)(args, cfg)
    if args.command == "downstream":
        from .checkpoint import write_json
        if cfg.finetune is None:
            raise BertdistilError(f"preset {cfg.preset} has no 'finetune' section: use --preset default or smoke")
        from .models import resolve_device
        res = pipeline.downstream_results(args.run, cfg, not args.quiet, resolve_device(cfg.device))
        write_json(res, args.run / "downstream.json")
        print(json.dumps({"glue_macro": res["glue_macro"], "retention": {k: v for k, v in res["retention"].items()
                                                                         if k != "per_task"}}, indent=1))
        return 0
    if args.command == "reproduce":
        if args.restart and args.out.exists():
            shutil.rmtree(args.out)
        res = pipeline.reproduce(cfg, args.out, progress=not args.quiet)
        print(json.dumps({"out": str(args.out), "report": str(args.out / "report.md"),
                          "mlm_accuracy": {k: round(v["accuracy"], 4) for k, v in res["mlm"].items()}}, indent=1))
        return 0
    if args.command == "prepare-corpus":
        from .models import check_model_dir, load_tokenizer
        from .resources import default_teacher
        tok = load_tokenizer(check_model_dir(cfg.teacher or default_teacher(), "teacher"))
        ds = pipeline.training_corpus(cfg, tok, progress=not args.quiet)
        print(json.dumps({"folder": str(ds.folder), **ds.meta}, indent=1))
        return 0
    if args.command == "compress":
        from .efficiency import compress_command
        return compress_command(args, cfg)
    if args.command == "distill":
        from .distributed import init_from_env
        init_from_env()                   # under torchrun: join the process group (gloo on CPU, NCCL on GPU)
    ctx = pipeline.Context(cfg, progress=not args.quiet)
    if args.command == "ablate":
        from .ablation import ablate, table4
        print("\n".join(table4(ablate(ctx, args.out, args.rows))))
        return 0
    if args.command == "bench-train":
        from .efficiency import bench_train_command
        return bench_train_command(ctx, args.out)
    if args.command == "prepare-teacher":
        from .teacher import prepare_teacher
        folder, info = prepare_teacher(ctx.teacher_src, cfg, ctx.tokenizer, ctx.dataset, ctx.masker, ctx.cache,
                                       force=args.force, progress=not args.quiet, device=ctx.device)
        info["mlm"] = ctx.evaluate(ctx.load(folder))
        print(json.dumps(info, indent=1, default=str))
        return 0
    if args.command == "evaluate-mlm":
        print(json.dumps(ctx.evaluate(ctx.load(args.model)), indent=1))
        return 0
    if args.command == "distill":
        return pipeline.distill_command(ctx, args.student, args.out)
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .runtime import tune_malloc
    tune_malloc()                         # 1.67x faster training steps on glibc (runtime.py)
    try:
        return run(args)
    except BertdistilError as e:
        print(f"bertdistil: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bertdistil: interrupted; run the same command again to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
