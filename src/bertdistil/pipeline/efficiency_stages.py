"""The efficiency stages of ``reproduce``: Table 3 (bench), the compression table, their markdown.

* bench: teacher and student of the run, each in a fresh process (bench.bench_model), per thread count.
* compress: per task in ``compress.tasks`` the teacher is fine-tuned, then the student with task
  distillation from it (the deployable "DistilBERT (D)"), then every variant of compress.py is built
  from that student and scored on the task's dev set. Speed does not depend on the task (same
  architecture), so each variant is timed once, on the first task's directory, with the Table 3
  protocol at the first thread count; the "fp32" and "teacher" rows reuse the bench stage's timings.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..atomic import save_model_dir, write_json
from ..config import BenchConfig, CompressConfig, Config, FinetuneConfig
from ..data.benchmark_root import resolve_data_root
from ..data.shipped import default_corpus
from ..data.tasks import builtin_tasks, load_examples, task_examples
from ..data.user_task import TaskData
from ..deploy.bench import bench_model, write_bench_texts
from ..deploy.compress import VariantJob, compress
from ..downstream.finetune import predict_outputs, tokenize_examples, train_classifier
from ..downstream.protocol import model_dirs, unavailable
from ..downstream.trainer import FitOptions
from ..models.cards import finetuned_card
from ..models.loading import check_model_dir, load_classifier
from ..report.efficiency_tables import compress_table
from ..runfolder.layout import RunLayout, cached_entries, cached_json
from ..training.throughput import StepSetup, bench_train


def bench_results(run: Path, cfg: Config, texts_file: Path, models: dict[str, Path] | None = None) -> dict:
    """{"<name>@<threads>t": bench dict} for the run's teacher and student over the texts of ``texts_file``
    (cached in OUT/bench.json; entries timed on other text are measured again)."""
    bc = cfg.bench
    text = json.loads(Path(texts_file).read_text())["name"]
    found = model_dirs(run)
    dirs = models or {k: found[k] for k in ("teacher", "student") if k in found}
    keys = {f"{name}@{t}t": (d, t) for name, d in dirs.items() for t in bc.threads}
    return cached_entries(RunLayout(run).bench, list(keys),
                          lambda k: bench_model(keys[k][0], keys[k][1], bc.repeats, texts_file, bc.latency_runs),
                          keep=lambda v: v.get("pass_text") == text)


def _finetuned(src: Path, dst: Path, spec, train_ex, dev_ex, cfg: Config, teacher_out, progress, device) -> dict:
    def run() -> dict:
        res, model, tok = train_classifier(src, spec, train_ex, dev_ex, cfg.finetune,
                                           FitOptions.of(cfg, cfg.finetune.seeds[0], progress, device), teacher_out)
        save_model_dir(model.cpu(), tok, dst)
        return res
    res = cached_json(dst.parent / f"{dst.name}.eval.json", run, also=dst / "config.json")
    finetuned_card(dst, spec, res, src, task_teacher="the teacher fine-tuned on the task" if teacher_out is not None
                   else None)
    return res


def compress_results(run: Path, cfg: Config, bench: dict, texts_file: Path, progress: bool = True,
                     device="cpu") -> dict | None:
    """{"variants": {variant: {size_mb, pass_s, speedup_vs_teacher, <task>: {metric: %}}}, "teacher": ...,
    "protocol": ...}; every directory and score is cached under OUT/compress/<task>/. A configured task without
    data is skipped with a notice (downstream.unavailable); None when none has data."""
    cc, fc = cfg.compress, cfg.finetune
    run = Path(run)
    dirs = model_dirs(run)
    tasks = builtin_tasks(resolve_data_root(cfg.data_dir))
    here = [name for name in cc.tasks if unavailable(tasks[name]) is None]
    if not here:
        return None
    per_task, first = {}, None
    for name in here:
        spec = tasks[name]
        train_ex = load_examples(spec, "train", fc.max_train_examples)
        dev_ex = load_examples(spec, "dev", fc.max_eval_examples)
        base = RunLayout(run).compress_dir(name)
        t_res = _finetuned(dirs["teacher"], base / "teacher_fp32", spec, train_ex, dev_ex, cfg, None, progress, device)
        t_out = None
        if not (base / "student_fp32" / "config.json").is_file():
            teacher, t_tok = load_classifier(base / "teacher_fp32")
            t_out = predict_outputs(teacher, t_tok, tokenize_examples(t_tok, train_ex, fc.max_seq_len), bf16=cfg.bf16)
        _finetuned(dirs["student"], base / "student_fp32", spec, train_ex, dev_ex, cfg, t_out, progress, device)
        job = VariantJob(spec, train_ex, cc, fc, cfg.bf16, progress)
        variants = compress(base / "student_fp32", job, dev_ex, base / "variants")
        per_task[name] = {"teacher": {m: t_res[m] for m in spec.metrics}, "variants": variants,
                          "metrics": list(spec.metrics)}
        first = first or base
    bc = cfg.bench or BenchConfig()
    threads = bc.threads[0]
    first_variants = per_task[here[0]]["variants"]
    timings = {"fp32": bench[f"student@{threads}t"]} if f"student@{threads}t" in bench else {}
    timings = time_variants(first_variants, bc, threads, first / "variants" / "bench.json", texts_file, timings)
    teacher_b = bench.get(f"teacher@{threads}t", {})
    return {"variants": variant_rows(per_task, timings, teacher_b.get("pass_s")),
            "teacher": {"size_mb": teacher_b.get("size_mb"), "pass_s": teacher_b.get("pass_s"),
                        **{task: r["teacher"] for task, r in per_task.items()}},
            "protocol": {
        "model": "student fine-tuned with task distillation from the fine-tuned teacher (DistilBERT (D))",
        "tasks": here, "metric": {t: r["metrics"][0] for t, r in per_task.items()},
        "train_examples": fc.max_train_examples or "all", "dev_examples": fc.max_eval_examples or "all",
        "seed": fc.seeds[0], "sparsity": cc.sparsity, "ffn_keep": cc.ffn_keep, "recovery_epochs": cc.recovery_epochs,
        "timing": f"Table 3 protocol, batch 1, {threads} thread(s), fresh process per variant, on the "
                  f"{cc.tasks[0]} directories; fp32 and teacher rows from the bench stage"}}


def time_variants(variants: dict, bc, threads: int, cache: Path, texts_file: Path, timings: dict | None = None) -> dict:
    """bench_model of every variant directory not yet in ``timings``/``cache`` (JSON, rewritten after each)."""
    return cached_entries(cache, list(variants),
                          lambda v: bench_model(variants[v]["dir"], threads, bc.repeats, texts_file, bc.latency_runs),
                          known=timings)


def variant_rows(per_task: dict, timings: dict, teacher_s: float | None) -> dict:
    """{variant: {format, method, [fused_ops: ONNX Runtime fusions applied {op: n}], size_mb, params, pass_s,
    threads, latency_ms_128_p50, speedup_vs_teacher, <task>: {metric: %}}} from per-task compress() results
    and bench timings."""
    first = next(iter(per_task.values()))["variants"]
    rows = {}
    for v, info in first.items():
        t = timings[v]
        rows[v] = {"format": info["format"], "method": info["method"],
                   **({"fused_ops": info["fused_ops"]} if "fused_ops" in info else {}),
                   "size_mb": t["size_mb"], "params": t["params"],
                   "pass_s": t["pass_s"], "threads": t["threads"],
                   "latency_ms_128_p50": t["latency_ms"]["128"]["p50"],
                   "speedup_vs_teacher": teacher_s / t["pass_s"] if teacher_s else None,
                   **{task: {m: r["variants"][v][m] for m in r["metrics"]} for task, r in per_task.items()}}
    return rows


def train_throughput_results(student, teacher, dataset, masker, cfg: Config) -> dict:
    """``train_throughput``: the distillation step per sequence length as training runs it (``cfg.precision``
    resolved on this machine, ``cfg.cpu_kernels``, ``cfg.bf16_teacher``); when that is bf16, also as bf16
    with stock PyTorch ops and an fp32-weight teacher (when either is on, to show their effect) and as a
    plain fp32 eager loop. Each row has the matmul peak of its precision measured between its steps
    (trainbench.py has the FLOP formula); ``peak_gflops`` {precision: GFLOP/s} are those of the first
    sequence length; top-level tokens_per_s and mfu are the first row's (the training loop's)."""
    import torch

    tb, rows = cfg.train_bench, {}
    if cfg.bf16:
        step = StepSetup(cfg.loss, bf16=True, cpu_kernels=cfg.cpu_kernels, bf16_teacher=cfg.bf16_teacher)
        rows["bf16"] = bench_train(student, teacher, dataset, masker, step, tb)
        if cfg.cpu_kernels or cfg.bf16_teacher:
            rows["bf16_stock"] = bench_train(student, teacher, dataset, masker, StepSetup(cfg.loss, bf16=True), tb)
    step = StepSetup(cfg.loss, cpu_kernels=cfg.cpu_kernels and not cfg.bf16)
    rows["fp32"] = bench_train(student, teacher, dataset, masker, step, tb)
    if cfg.bf16:
        for r, r16 in zip(rows["fp32"], rows["bf16"]):
            r["mfu_vs_bf16_peak"] = r["achieved_gflops"] / r16["peak_gflops"]
    peak = {k: rows[k][0]["peak_gflops"] for k in ("bf16", "fp32") if k in rows}
    first = next(iter(rows.values()))[0]
    return {"tokens_per_s": first["tokens_per_s"], "mfu": first["mfu"], "peak_gflops": peak,
            "precision": "bf16" if cfg.bf16 else "fp32",
            "threads": torch.get_num_threads(), "steps": rows, "loss": {
                "restrict_ce_to_mask": cfg.loss.restrict_ce_to_mask, "alpha": [cfg.loss.alpha_ce, cfg.loss.alpha_mlm,
                                                                              cfg.loss.alpha_cos]},
            "matmul_size": tb.matmul_size}


def compress_model(src: Path, data: TaskData, out: Path, cfg: Config, threads: int = 1,
                   baseline: Path | None = None, progress: bool = True) -> dict:
    """``bertdistil compress`` once OUT is claimed: every variant of compress.py of the fine-tuned classifier
    ``src`` on the task of ``data``, scored on its dev split and timed with the Table 3 protocol at ``threads``
    (``baseline``: a model timed as the 1.00x reference) → OUT/compress.json, OUT/compress.md; returns the
    compress.json dict {variants, teacher: None, baseline, protocol}."""
    fc, cc, bc = cfg.finetune or FinetuneConfig(), cfg.compress or CompressConfig(), cfg.bench or BenchConfig()
    root = resolve_data_root(cfg.data_dir)
    spec = data.spec(root, src)
    train_ex, dev_ex = task_examples(spec, data.caps, not progress)
    out = Path(out)
    texts = write_bench_texts(out / "bench_texts.json", root, bc.max_pairs, cfg.corpus or default_corpus(),
                              cfg.eval.heldout_every)
    variants = compress(src, VariantJob(spec, train_ex, cc, fc, cfg.bf16, progress), dev_ex, out / "variants")
    timings = time_variants(variants, bc, threads, out / "variants" / "bench.json", texts)
    base = bench_model(check_model_dir(baseline), threads, bc.repeats, texts, bc.latency_runs) if baseline else None
    per_task = {spec.name: {"variants": variants, "metrics": list(spec.metrics)}}
    comp = {"variants": variant_rows(per_task, timings, base and base["pass_s"]),
            "teacher": None, "baseline": base, "protocol": {
                "model": str(src), "tasks": [spec.name], "metric": {spec.name: spec.metrics[0]},
                "train_examples": len(train_ex), "dev_examples": len(dev_ex),
                "seed": 1, "timing": f"Table 3 protocol, batch 1, {threads} thread(s), fresh process per variant"}}
    write_json(comp, out / "compress.json")
    (out / "compress.md").write_text("\n".join(compress_table(comp)) + "\n")
    return comp
