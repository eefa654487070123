"""The API of size, speed and deployment: inference benchmarks (paper Table 3), training throughput and MFU,
compressed variants, web and mobile exports, the local web server, and the browser benchmark."""
from __future__ import annotations

import sys
from pathlib import Path

from ..atomic import write_json
from ..config import Config, EvalConfig, TrainBenchConfig
from ..data.benchmark_root import resolve_data_root
from ..data.shipped import default_corpus
from ..data.user_task import TaskData
from ..deploy.bench import bench_model, write_bench_texts
from ..deploy.edge_bench import browser_missing, edge_bench, sst2_sentences
from ..deploy.web_export import export_ort, export_web, start_server
from ..errors import BertdistilError
from ..models.loading import check_model_dir, load_classifier
from ..models.student import student_from_teacher
from ..pipeline.context import Context
from ..pipeline.efficiency_stages import compress_model, train_throughput_results
from ..pipeline.stages import teacher_for
from ..report.efficiency_tables import table3
from ..runfolder.ownership import writing
from .pretraining import load_config


def bench(models: dict[str, str | Path], out: str | Path, *, threads: tuple[int, ...] = (1,), repeats: int = 3,
          max_pairs: int = 0, data_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Paper Table 3 for ``{name: model directory}`` at each thread count, each model in a fresh process:
    parameters, size on disk (MB), seconds per pass over STS-B dev (held-out corpus text without a data root;
    ``max_pairs`` > 0 caps it), batch-1 latency (ms), throughput (sequences/s), peak RSS (MB) →
    OUT/bench.json, OUT/bench.md. Returns {"NAME@Tt": {...}}."""
    out = Path(out)
    with writing(out, "bench"):
        texts = write_bench_texts(out / "bench_texts.json", resolve_data_root(data_dir), max_pairs,
                                  default_corpus(), EvalConfig().heldout_every)
        results = {}
        for name, path in models.items():
            check_model_dir(path)
            for t in threads:
                if progress:
                    print(f"bench {name}@{t}t ...", file=sys.stderr)
                results[f"{name}@{t}t"] = bench_model(path, t, repeats, texts)
        write_json(results, out / "bench.json")
        (out / "bench.md").write_text("\n".join(table3(results)) + "\n")
    return results


def bench_train(cfg: Config, out: str | Path, *, progress: bool = True) -> dict:
    """Distillation-step throughput of the config's (prepared) teacher and its student init: tokens/s, FLOPs,
    achieved GFLOP/s and MFU against the matmul peak measured between the steps → OUT/train_throughput.json,
    returned."""
    ctx = Context(cfg, progress)
    cfg.train_bench = cfg.train_bench or TrainBenchConfig()
    teacher_dir, _ = teacher_for(ctx)
    teacher = ctx.load(teacher_dir).eval()
    student, _ = student_from_teacher(teacher, cfg.layer_map, cfg.fold_token_type)
    res = train_throughput_results(student.to(ctx.device), teacher, ctx.dataset, ctx.masker, cfg)
    with writing(Path(out), "bench-train"):
        write_json(res, Path(out) / "train_throughput.json")
    return res


def compress(model: str | Path, out: str | Path, cfg: Config | None = None, *, baseline: str | Path | None = None,
             threads: int = 1, progress: bool = True, **data) -> dict:
    """INT8 / pruned / ONNX variants of a fine-tuned classifier, each scored on the task's dev split and timed
    (Table 3 protocol, batch 1, ``threads``; ``baseline``: a model timed as the 1.00x reference) →
    OUT/compress.json, OUT/compress.md; returns compress.json's dict. ``data`` are the fields of ``TaskData``
    (``task=`` default: the task recorded at fine-tuning; ``train=``/``dev=``, caps). ``out`` is locked and may
    only be new, empty or an earlier compress output. BertdistilError for a model whose classifier head was
    never trained."""
    src = check_model_dir(model)
    load_classifier(src)                             # refuses a model whose classifier head was never trained
    with writing(Path(out), "compress", inputs={"--model": src, "--baseline": baseline}):
        return compress_model(src, TaskData(**data), Path(out), cfg or load_config(), threads,
                              Path(baseline) if baseline else None, progress)


def export(model: str | Path, out: str | Path, *, format: str = "web", npm_dir: str | Path | None = None,
           force: bool = False) -> dict:
    """A fine-tuned classifier (or a ``compress`` variant of one) for the browser (``format="web"``:
    transformers.js layout, INT8 and fp32 ONNX, static demo page) or for phones (``"ort"``: ONNX Runtime
    Mobile .ort files) → ``out``, replaced as a whole. Returns export.json's dict {format, source, files
    {path: bytes}, download_bytes}. BertdistilError for a model that is not a fine-tuned classifier."""
    if format == "web":
        return export_web(model, out, npm_dir, force=force)
    if format == "ort":
        return export_ort(model, out, force=force)
    raise BertdistilError(f"export format {format!r}: choose web or ort")


def serve(web: str | Path, port: int = 8000):
    """Serve a web export on 127.0.0.1:``port`` (0 = any free port) with the cross-origin isolation headers of
    multi-threaded WASM, in a background thread; returns the ``ThreadingHTTPServer`` (``.shutdown()``)."""
    return start_server(web, port)


def bench_web(web: str | Path, out: str | Path, *, sentences: int = 200, threads: tuple[int, ...] = (1, 2),
              data_dir: str | Path | None = None) -> dict:
    """The web export in headless Chromium vs ONNX Runtime and PyTorch in Python, and the mobile .ort, on the
    first ``sentences`` SST-2 dev sentences: latency (ms), agreement, download size, time to first prediction
    → OUT/edge.json, OUT/edge.png; returned. BertdistilError without a browser or SST-2 dev."""
    if (reason := browser_missing()) is not None:
        raise BertdistilError(f"no browser to benchmark in: {reason}")
    with writing(Path(out), "edge", inputs={"web export": web}):
        return edge_bench(web, sst2_sentences(data_dir, sentences), out, list(threads))
