"""``bertdistil bench``: inference size and speed of model directories on the CPU (paper Table 3).

Each model is measured in a fresh Python process (``python -m bertdistil.deploy.bench MODEL THREADS``) so
memory, thread pools and caches never leak from one model to the next. Protocol:
  * params (total, and without the embedding tables), size on disk (MB = 10^6 bytes) of weight files;
  * Table 3: one pass over STS-B dev (1,500 pairs) at batch size 1, pre-tokenised (≤ 128 tokens), inference
    mode, ``threads`` fixed, any format of ``deploy.load_runner`` (PyTorch fp32/INT8, ONNX Runtime); 20
    warm-up texts excluded; ``repeats`` passes, median and min/max (s). Without benchmark data the pass
    runs over held-out documents of the corpus instead (``bench_texts``; ``pass_text`` names which);
  * latency at batch 1 for inputs of 16/64/128/256 tokens: p50/p90/p99 over 50 runs after 5 warm-ups (ms);
  * throughput at batch 32 × 128 tokens (sequences/s); cold start = process start → first prediction (s);
  * peak resident memory of the measuring process itself (MB, ``peak_rss_mb``) and its value before the
    model was loaded.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZED_FILES = ("model.safetensors", "pytorch_model.bin", "model.onnx", "model_int8.pt")


def size_on_disk_mb(model_dir: Path) -> float:
    """Size of the weight files of a checkpoint directory, in MB (10^6 bytes)."""
    return sum(f.stat().st_size for f in Path(model_dir).iterdir() if f.name in SIZED_FILES) / 1e6


def peak_rss_mb() -> float:
    """This process's own peak resident memory in MB: ``VmHWM`` of /proc/self/status on Linux, whose
    high-water mark starts afresh at exec. (``getrusage(RUSAGE_SELF).ru_maxrss`` does not: a child keeps the
    peak of the parent it was forked from, so a benchmark child would report its parent's memory.) Elsewhere
    ``ru_maxrss`` (KiB on Linux and BSD, bytes on macOS), the best that platform offers."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024                      # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def bench_texts(root: Path | None, max_pairs: int, corpus: list[str], heldout_every: int) -> dict:
    """The text of the Table 3 pass: {"name", "pairs": [[text_a, text_b | None]], "files"}. STS-B dev (a
    seeded sample of ``max_pairs``, 0 = all) when the data root has it, else the first ``max_pairs`` (0 =
    1,500) held-out documents of ``corpus`` (1 in ``heldout_every``, sources.is_heldout)."""
    from ..config import EvalConfig
    from ..data.tasks import builtin_tasks, load_examples
    spec = builtin_tasks(root)["STS-B"]
    if "dev" in spec.files:
        pairs = load_examples(spec, "dev", max_pairs)
        return {"name": "STS-B dev", "pairs": [[a, b] for a, b, _ in pairs], "files": list(map(str, spec.files["dev"]))}
    from ..data.documents import heldout_documents
    docs = heldout_documents(corpus, heldout_every or EvalConfig().heldout_every, max_pairs or 1500)
    return {"name": "held-out corpus text", "pairs": [[d, None] for d in docs], "files": list(corpus)}


def write_bench_texts(path: Path, root: Path | None, max_pairs: int, corpus: list[str], heldout_every: int) -> Path:
    """``bench_texts`` written to ``path`` (JSON) for the measuring processes; returns ``path``."""
    from ..atomic import write_json
    write_json(bench_texts(root, max_pairs, corpus, heldout_every), Path(path))
    return Path(path)


def _measure(model_dir: str, threads: int, repeats: int, texts_file: str, latency_runs: int, t_start: float) -> dict:
    import numpy as np

    from ..models.loading import load_tokenizer
    from .runners import load_runner
    rss_before = peak_rss_mb()
    tok = load_tokenizer(model_dir)
    run = load_runner(model_dir, threads)
    texts = json.loads(Path(texts_file).read_text())
    enc = [dict(tok(a, b, truncation=True, max_length=128, return_tensors="np")) for a, b in texts["pairs"]]
    run(enc[0])
    cold = time.perf_counter() - t_start
    for e in enc[:20]:
        run(e)
    passes = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for e in enc:
            run(e)
        passes.append(time.perf_counter() - t0)
    latency = {}
    vocab = run.config.vocab_size
    rng = np.random.default_rng(0)
    max_len = getattr(run.config, "max_position_embeddings", 512)
    for n in [n for n in (16, 64, 128, 256) if n <= max_len]:       # lengths the model can take
        x = {"input_ids": rng.integers(1000, vocab, (1, n)), "attention_mask": np.ones((1, n), dtype=np.int64)}
        for _ in range(5):
            run(x)
        times = []
        for _ in range(latency_runs):
            t0 = time.perf_counter()
            run(x)
            times.append(1000 * (time.perf_counter() - t0))
        latency[str(n)] = {q: float(np.percentile(times, p)) for q, p in (("p50", 50), ("p90", 90), ("p99", 99))}
    x = {"input_ids": rng.integers(1000, vocab, (32, 128)), "attention_mask": np.ones((32, 128), dtype=np.int64)}
    run(x)
    t0 = time.perf_counter()
    for _ in range(3):
        run(x)
    throughput = 3 * 32 / (time.perf_counter() - t0)
    return {**count_params(model_dir), "format": run.format, "size_mb": size_on_disk_mb(Path(model_dir)),
            "threads": threads, "pass_s": statistics.median(passes), "pass_s_min": min(passes),
            "pass_s_max": max(passes), "pass_text": texts["name"], "pass_texts": len(enc), "repeats": repeats,
            "latency_ms": latency,
            "throughput_seq_s": throughput, "cold_start_s": cold, "peak_rss_mb": peak_rss_mb(),
            "rss_before_model_mb": rss_before, "peak_rss_of": "measuring process (VmHWM)"}


def count_params(model_dir: str | Path) -> dict:
    """Parameters of the architecture in config.json (total and without embedding tables), counted on
    a meta-device instance so no weights are loaded; FFN-pruned configs count their smaller layers."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification
    with torch.device("meta"):
        config = AutoConfig.from_pretrained(str(model_dir), local_files_only=True)
        model = AutoModelForSequenceClassification.from_config(config)
    params = sum(p.numel() for p in model.parameters())
    emb = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    return {"params": params, "params_without_embeddings": params - emb}


def bench_model(model_dir: str | Path, threads: int, repeats: int, texts_file: str | Path,
                latency_runs: int = 50) -> dict:
    """Measure one model directory (any deploy format) in a fresh process over the texts of ``texts_file``
    (``write_bench_texts``); returns the dict described in the module doc. Raises RuntimeError with the
    child's stderr if the measurement fails."""
    cmd = [sys.executable, "-m", "bertdistil.deploy.bench", str(model_dir), str(threads), str(repeats), str(texts_file),
           str(latency_runs)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"bench of {model_dir} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    t_start = time.perf_counter()
    from ..runtime import tune_malloc
    tune_malloc()                        # the same allocator settings as the CLI
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model, threads, repeats, texts, runs = sys.argv[1:6]
    print(json.dumps(_measure(model, int(threads), int(repeats), texts, int(runs), t_start=t_start)))
