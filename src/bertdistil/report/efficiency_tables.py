"""The efficiency sections of ``report.md``: Table 3, the compressed-students table, the edge table and
training throughput, as markdown generated from ``results.json`` (the deploy and training packages measure,
this module only formats)."""
from __future__ import annotations

from ..training.throughput import robust_peak


def compress_table(comp: dict) -> list[str]:
    """Markdown: variant | format | size | text pass | speed-up | p50@128 | per-task score and Δ vs fp32."""
    tasks, metric = comp["protocol"]["tasks"], comp["protocol"]["metric"]
    head = "| variant | how | size (MB) | pass, batch 1 (s) | × teacher speed | p50 @128 (ms) | " + \
        " | ".join(f"{t} {metric[t]} (Δ vs fp32)" for t in tasks) + " |"
    lines = [head, "|---|---|---:|---:|---:|---:|" + "---:|" * len(tasks)]
    t = comp.get("teacher")
    if t and t.get("pass_s"):
            lines.append(f"| teacher (fp32 PyTorch) | fine-tuned | {t['size_mb']:.1f} | {t['pass_s']:.1f} | 1.00 | | "
                     + " | ".join(f"{t[task][metric[task]]:.1f}" for task in tasks) + " |")
    base = comp["variants"]["fp32"]
    for name, r in comp["variants"].items():
        cells = []
        for task in tasks:
            v, b = r[task][metric[task]], base[task][metric[task]]
            cells.append(f"{v:.1f}" + ("" if name == "fp32" else f" ({v - b:+.1f})"))
        sp = f"{r['speedup_vs_teacher']:.2f}" if r["speedup_vs_teacher"] else ""
        lines.append(f"| student {name} | {r['method']} | {r['size_mb']:.1f} | {r['pass_s']:.1f} | {sp} | "
                     f"{r['latency_ms_128_p50']:.1f} | " + " | ".join(cells) + " |")
    return lines

def best_variant(comp: dict, max_loss: dict[str, float] | None = None) -> dict | None:
    """The fastest variant within the accuracy budget vs the fp32 student (default: issue targets,
    ≤ 1 point SST-2 accuracy, ≤ 1 point (= 0.01) STS-B Pearson); None if no variant qualifies."""
    max_loss = max_loss or {"SST-2": 1.0, "STS-B": 1.0}
    base = comp["variants"]["fp32"]
    metric = comp["protocol"]["metric"]
    ok = []
    for name, r in comp["variants"].items():
        if all(base[t][m] - r[t][m] <= max_loss.get(t, 1.0) for t, m in metric.items()):
            ok.append((r["pass_s"], name))
    if not ok:
        return None
    name = min(ok)[1]
    return {"variant": name, **comp["variants"][name]}

def loop_name(row: dict) -> str:
    """How a ``bench_train`` row ran: plain fp32 eager, or bf16 autocast with the speed-ups it had on."""
    if not row["bf16"]:
        return "fp32 + cpu_kernels" if row.get("cpu_kernels") else "plain fp32 eager"
    on = [name for key, name in (("cpu_kernels", "cpu_kernels"), ("bf16_teacher", "bf16 teacher")) if row.get(key)]
    return " + ".join(["bf16 autocast", *on]) if on else "bf16 autocast, stock PyTorch ops"

def with_robust_peak(row: dict) -> dict:
    """A ``bench_train`` row recorded before its peak was ``trainbench.robust_peak`` (each step against the
    matmul timed just before it, which one slow timing lifted above 100%), re-read from its own measurements:
    peak = the best of its n³ timings, its GEMM-shape rate and its fastest step. Newer rows are returned as
    they are."""
    if "peak_fixed" in row or "peak_gflops_range" not in row:
        return row
    fastest = row["flops_per_step"] / row["step_s_min"] / 1e9
    peak = robust_peak(row["peak_gflops_range"], row.get("gemm_ceiling_gflops", 0.0), [fastest])
    slowest = row["flops_per_step"] / row["step_s_max"] / 1e9
    out = {**row, "peak_gflops": peak, "mfu": row["achieved_gflops"] / peak, "mfu_range": [slowest / peak,
                                                                                          fastest / peak]}
    if "gemm_ceiling_gflops" in row:
        out["mfu_ceiling"] = row["gemm_ceiling_gflops"] / peak
    return out


def train_throughput_table(tt: dict) -> list[str]:
    """Markdown: one row per (loop, seq len) with tokens/s, GFLOP/s, peak, MFU and its GEMM ceiling; then where
    the profiled step's time goes (``trainbench.time_shares``)."""
    lines = ["| loop | seq len | batch | tokens/s | step (s) | achieved GFLOP/s | "
             "peak GFLOP/s (best matmul, same window) | MFU (per-step range) | "
             "MFU ceiling (model GEMMs alone) | vocab projection share of FLOPs |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    shares = []
    for rows in tt["steps"].values():
        for r in map(with_robust_peak, rows):
            name = loop_name(r)
            ceiling = f"{100 * r['mfu_ceiling']:.0f}%" if "mfu_ceiling" in r else "–"
            lo, hi = r.get("mfu_range") or (None, None)
            spread = "" if lo is None else f" ({100 * lo:.0f}–{100 * hi:.0f}%)"
            lines.append(f"| {name} | {r['seq_len']} | {r['batch_size']} | {r['tokens_per_s']:.0f} | "
                         f"{r['step_s']:.2f} | {r['achieved_gflops']:.0f} | {r['peak_gflops']:.0f} | "
                         f"{100 * r['mfu']:.0f}%{spread} | {ceiling} | {100 * r['vocab_projection_share']:.0f}% |")
            if r.get("time_shares"):
                shares.append((f"{name} {r['seq_len']}", r["time_shares"]))
    if shares:
        cats = list(shares[0][1])
        lines += ["", "Where a profiled step's time goes (share of self CPU time):", "",
                  "| loop | " + " | ".join(cats) + " |", "|---|" + "---:|" * len(cats)]
        lines += [f"| {name} | " + " | ".join(f"{100 * sh.get(c, 0):.0f}%" for c in cats) + " |" for name, sh in shares]
    return lines

def efficiency_section(r: dict) -> list[str]:
    """Report markdown for whatever of bench / compress / train_throughput the results hold."""
    lines = []
    if r.get("bench"):
        b = r["bench"]
        lines += ["## Table 3 — size and CPU inference speed", "",
                  "Each model in a fresh process; one pass over the text named in the header at batch size 1, "
                  "median of the passes (min–max); "
                  "paper rows as published (their hardware, not comparable in absolute terms).", "",
                  *table3(b), ""]
        for t in {v["threads"] for v in b.values()}:
            if f"teacher@{t}t" in b and f"student@{t}t" in b:
                ratio = b[f"teacher@{t}t"]["pass_s"] / b[f"student@{t}t"]["pass_s"]
                lines.append(f"- {t} thread(s): student {ratio:.2f}× "
                             f"faster than the teacher on the {b[f'student@{t}t'].get('pass_text', 'STS-B dev')} pass.")
        lines.append("")
    if r.get("compress"):
        c = r["compress"]
        best = best_variant(c)
        lines += ["## Compressed students (size, speed and accuracy side by side)", "",
                  f"{c['protocol']['model']}; {c['protocol']['train_examples']} train / "
                  f"{c['protocol']['dev_examples']} "
                  f"dev examples, seed {c['protocol']['seed']}. Timing: {c['protocol']['timing']}.", "",
                  *compress_table(c), ""]
        lines.append("- fastest variant within 1 point of the fp32 student on every task: " +
                     (f"**{best['variant']}**, {best['speedup_vs_teacher']:.2f}× the teacher's speed"
                      if best and best.get("speedup_vs_teacher") else "none") + ".")
        lines.append("")
    if r.get("edge"):
        lines += edge_section(r["edge"])
    if r.get("train_throughput"):
        tt = r["train_throughput"]
        lines += ["## Training throughput (distillation step)", "",
                  f"Teacher forward + student forward/backward + AdamW, {tt['threads']} threads; FLOPs counted "
                  "analytically (trainbench.py), MFU against the measured "
                  f"{tt['matmul_size']}³ matmul peak of the same precision." + _precision_note(tt), "",
                  *train_throughput_table(tt), ""]
        lines += stage_vs_bench(r)
    return lines


def _precision_note(tt: dict) -> str:
    """A sentence when the run trained in fp32 (no native bf16 on its machine, so no bf16 rows)."""
    if tt.get("precision", "bf16") == "bf16":
        return ""
    return (" This machine has no native bf16 (AVX512-BF16/AMX or a bf16 GPU): precision auto trains in fp32, "
            "and bf16 rows are not measured.")


def stage_vs_bench(r: dict) -> list[str]:
    """One line comparing the distillation stage's tokens/s (non-pad tokens, every overhead of the stage
    included) with bench-train's first row (the same train_step on full-length batches), same run."""
    d, tt = r.get("distill"), r.get("train_throughput")
    if not d or not tt or not d.get("tokens_per_s"):
        return []
    row = next(iter(tt["steps"].values()))[0]
    phases = d.get("seconds_by_phase", {})
    spent = ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
    return [f"- The distillation stage of this run: {d['tokens_per_s']:,.0f} tokens/s = "
            f"{100 * d['tokens_per_s'] / row['tokens_per_s']:.0f}% of bench-train's {row['tokens_per_s']:,.0f} "
            f"at {row['seq_len']} tokens × {row['batch_size']}" + (f" (stage time: {spent})" if spent else "") + ".",
            ""]


def edge_section(edge: dict) -> list[str]:
    """The report's Edge section: the compressed SST-2 student in the browser, in Python and as .ort."""
    head = ["## Edge — the compressed SST-2 student in a browser and as an ONNX Runtime Mobile model", ""]
    if "skipped" in edge:
        return head + [f"Not measured in this run: {edge['skipped']}.", ""]
    return head + ["Headless Chromium opened the page of `bertdistil export --format web` (served by `bertdistil "
                   "serve`) and classified each sentence through the page; the Python rows time the same files "
                   "the same way.", "", *edge_table(edge), "", f"![the page](edge/{edge['screenshot']})", ""]


PAPER_TABLE3 = {"ELMo (paper)": (180, 895), "BERT-base (paper)": (110, 668), "DistilBERT (paper)": (66, 410)}


def table3(bench: dict) -> list[str]:
    """Markdown Table 3: paper rows, then measured rows. The peak RSS of a row recorded without
    ``peak_rss_of`` is shown as "–": such rows read ``ru_maxrss``, the peak of the process that started the
    benchmark rather than the model's own."""
    text = next(iter(bench.values()), {}).get("pass_text", "STS-B dev")
    lines = [f"| model | params (M) | size (MB) | {text} pass, batch 1 (s) | threads | p50 latency @128 (ms) | "
             "throughput @32×128 (seq/s) | peak RSS (MB) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, (params, secs) in PAPER_TABLE3.items():
        lines.append(f"| {name} | {params} | | {secs} | 1 CPU (paper hardware) | | | |")
    for name, b in bench.items():
        lines.append(f"| {name} | {b['params'] / 1e6:.1f} | {b['size_mb']:.1f} | {b['pass_s']:.1f} "
                     f"({b['pass_s_min']:.1f}–{b['pass_s_max']:.1f}) | {b['threads']} | "
                     f"{b['latency_ms']['128']['p50']:.1f} | {b['throughput_seq_s']:.0f} | "
                     + (f"{b['peak_rss_mb']:.0f} |" if "peak_rss_of" in b else "– |"))
    return lines


def edge_table(res: dict) -> list[str]:
    """Markdown rows of the report's Edge table from edge_bench's dict."""
    lines = ["| runtime | p50 (ms) | p90 (ms) | same label as Python ORT INT8 | max abs logit diff |",
             "|---|---:|---:|---:|---:|"]
    for name, r in res["rows"].items():
        same = f"{r['same_argmax']}/{r['n']}" if "same_argmax" in r else "(reference)" if r.get("reference") else ""
        diff = f"{r['max_abs_logit_diff']:.1e}" if "max_abs_logit_diff" in r else ""
        lines.append(f"| {name} | {r['latency_ms']['p50']:.1f} | {r['latency_ms']['p90']:.1f} | {same} | {diff} |")
    first = ", ".join(f"{k}: {v / 1e3:.1f} s" for k, v in res["first_prediction_ms"].items())
    sizes = ", ".join(f"{k} {v:.1f} MB" for k, v in res["model_mb"].items())
    return lines + ["", f"{res['sentences']} SST-2 dev sentences at batch 1 (tokenizer + model). Page download "
                    f"with the INT8 model: {res['download_mb']['q8']:.1f} MB; time to first prediction (cold, "
                    f"from opening the page): {first}. Files: {sizes}."]
