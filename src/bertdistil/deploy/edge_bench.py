"""The web export in a real browser, and the mobile (.ort) export as a phone-class proxy.

Headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by Selenium; no browser download)
opens the page that ``bertdistil serve`` serves, and classifies sentences through the page's own
``window.bertdistil.classify`` (tokenizer + model at batch 1, timed inside the page with
``performance.now()``). ``edge_bench`` sets that next to ONNX Runtime and PyTorch in Python on the same
sentences → ``OUT/edge.json`` and a screenshot ``OUT/edge.png``.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..atomic import write_json
from ..data.benchmark_root import resolve_data_root
from ..data.tasks import builtin_tasks, load_examples
from ..errors import BertdistilError
from ..models.loading import load_classifier, load_tokenizer
from ..runfolder.layout import RunLayout, cached_json
from .runners import input_names
from .web_export import FP32_FILE, INT8_FILE, export_ort, export_web, node_modules, start_server

CHROMIUM = os.environ.get("BERTDISTIL_CHROMIUM", "chromium")
CHROMEDRIVER = os.environ.get("BERTDISTIL_CHROMEDRIVER", "chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=900,600")
MAX_SEQ_LEN = 128                 # the page truncates at 128 tokens too (app.js)


def browser_missing() -> str | None:
    """Why the browser benchmark cannot run here (None when it can): Selenium, Chromium, ChromeDriver."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for exe, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not shutil.which(exe):
            return f"{exe} not found (Debian: apt-get install {pkg})"
    return None


def _driver(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which(CHROMEDRIVER)), options=opts)


@contextmanager
def open_page(web_dir: str | Path, threads: int, dtype: str = "q8", timeout_s: float = 300):
    """Serve ``web_dir``, open its page in headless Chromium with ``?threads=&dtype=`` and wait until the
    model is loaded and the first prediction shown. Yields (driver, info); info = the page's
    {threads, dtype, crossOriginIsolated, first_prediction_ms (from navigation start), model_file}.
    BertdistilError when the page reports an error or is not ready within ``timeout_s`` seconds."""
    server = start_server(web_dir)
    profile = Path(tempfile.mkdtemp(prefix="bertdistil-chromium-"))      # removed when the page closes
    driver = None
    try:
        driver = _driver(profile)
        driver.get(f"http://127.0.0.1:{server.server_address[1]}/?threads={threads}&dtype={dtype}")
        deadline = time.monotonic() + timeout_s
        while (state := driver.execute_script("return window.bertdistil ?? null")) is None:
            if time.monotonic() > deadline:
                raise BertdistilError(f"the page of {web_dir} was not ready after {timeout_s:.0f} s")
            time.sleep(0.2)
        if "error" in state:
            raise BertdistilError(f"the page of {web_dir} failed: {state['error'].splitlines()[0]}")
        driver.set_script_timeout(120)
        yield driver, state["info"]
    finally:
        if driver is not None:
            driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


def page_classify(driver, texts: list[str]) -> list[dict]:
    """The page's classify() on each text, one at a time: [{label, scores, logits, ms}]."""
    script = "window.bertdistil.classify(arguments[0]).then(arguments[1])"
    return [driver.execute_async_script(script, t) for t in texts]


def page_ui_label(driver, text: str, timeout_s: float = 60) -> str:
    """Type ``text`` into the page, press Classify and return the label the page then shows."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    driver.execute_script("document.getElementById('label').textContent = ''")
    driver.find_element(By.ID, "classify").click()
    return WebDriverWait(driver, timeout_s).until(lambda d: d.find_element(By.ID, "label").text)


def _encode(tokenizer, text: str, names: list[str]) -> dict:
    enc = tokenizer(text, truncation=True, max_length=MAX_SEQ_LEN, return_tensors="np")
    return {k: (enc[k] if k in enc else np.zeros_like(enc["input_ids"])).astype(np.int64) for k in names}


def ort_logits(onnx_file: str | Path, tokenizer_dir: str | Path, texts: list[str], threads: int = 1
               ) -> tuple[np.ndarray, list[float]]:
    """ONNX Runtime (Python, CPU) on ``onnx_file`` (.onnx or .ort), one text at a time: logits float32
    (N, num_labels) and per-text latency in ms (tokenizer + run, as the page times it)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(str(onnx_file), opts, providers=["CPUExecutionProvider"])
    tok, names = load_tokenizer(tokenizer_dir), [i.name for i in sess.get_inputs()]
    sess.run(["logits"], _encode(tok, texts[0], names))          # warm-up, as the page's first prediction
    out, ms = [], []
    for t in texts:
        t0 = time.perf_counter()
        out.append(sess.run(["logits"], _encode(tok, t, names))[0][0])
        ms.append((time.perf_counter() - t0) * 1e3)
    return np.stack(out), ms


def torch_latency(checkpoint: str | Path, texts: list[str], threads: int = 1) -> list[float]:
    """PyTorch fp32 eager per-text latency in ms (tokenizer + forward) of the fine-tuned checkpoint."""
    import torch

    model, tok = load_classifier(checkpoint)
    names, before = input_names(model.config), torch.get_num_threads()
    torch.set_num_threads(threads)
    ms = []
    try:
        with torch.inference_mode():
            for t in [texts[0], *texts]:
                t0 = time.perf_counter()
                model(**{k: torch.from_numpy(v) for k, v in _encode(tok, t, names).items()})
                ms.append((time.perf_counter() - t0) * 1e3)
    finally:
        torch.set_num_threads(before)
    return ms[1:]


def latency_summary(ms: list[float]) -> dict:
    """{p50, p90, mean} in ms, and n."""
    return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)), "mean": float(np.mean(ms)),
            "n": len(ms)}


def browser_runs(web_dir: str | Path, texts: list[str], threads: list[int], screenshot: Path | None = None) -> dict:
    """{"<n>t": {info, latency_ms, labels, logits, ui_label}} for the page at each WASM thread count; the
    screenshot (PNG) is taken after the last run's typed-in prediction."""
    runs = {}
    for i, n in enumerate(threads):
        with open_page(web_dir, n) as (driver, info):
            res = page_classify(driver, texts)
            ui = page_ui_label(driver, texts[0])
            if screenshot is not None and i == len(threads) - 1:
                driver.save_screenshot(str(screenshot))
        runs[f"{n}t"] = {"info": info, "latency_ms": latency_summary([r["ms"] for r in res]),
                         "labels": [r["label"] for r in res], "logits": [r["logits"] for r in res], "ui_label": ui}
    return runs


def _agreement(logits: np.ndarray, ref: np.ndarray) -> dict:
    return {"same_argmax": int((logits.argmax(1) == ref.argmax(1)).sum()), "n": len(ref),
            "max_abs_logit_diff": float(np.abs(logits - ref).max())}


def edge_bench(web_dir: str | Path, texts: list[str], out: str | Path, threads: list[int] = (1, 2)) -> dict:
    """Browser vs Python on the web export ``web_dir``: per-sentence latency (ms, p50/p90) of the page (WASM,
    INT8, each thread count), ONNX Runtime INT8 and fp32 and PyTorch fp32 at 1 thread, and the mobile
    ``.ort`` INT8 at 1 thread (exported into OUT/ort); agreement of every INT8 runtime with Python ONNX
    Runtime on the same file; download size and time to first prediction. Writes OUT/edge.json and
    OUT/edge.png; returns the dict. BertdistilError when the page fails."""
    import json
    web_dir, out = Path(web_dir), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    export = json.loads((web_dir / "export.json").read_text())
    model, q8 = web_dir / "model", web_dir / "model" / "onnx" / INT8_FILE
    ref, ref_ms = ort_logits(q8, model, texts)
    _, fp32_ms = ort_logits(model / "onnx" / FP32_FILE, model, texts)
    torch_ms = torch_latency(export["checkpoint"], texts)
    mobile = export_ort(export["checkpoint"], out / "ort", onnx_from=model)   # the very graphs the page runs
    ort_q8, ort_ms = ort_logits(out / "ort" / INT8_FILE.replace(".onnx", ".ort"), out / "ort", texts)
    browser = browser_runs(web_dir, texts, list(threads), out / "edge.png")
    id2label = json.loads((model / "config.json").read_text()).get("id2label", {})
    ref_labels = [id2label.get(str(i), f"LABEL_{i}") for i in ref.argmax(1)]
    rows = {f"browser WASM INT8, {k}": {"latency_ms": r["latency_ms"], "threads": r["info"]["threads"],
                                        **_agreement(np.array(r["logits"]), ref),
                                        "labels_equal_python": sum(a == b for a, b in zip(r["labels"], ref_labels))}
            for k, r in browser.items()}
    rows["Python ONNX Runtime INT8, 1t"] = {"latency_ms": latency_summary(ref_ms), "threads": 1, "reference": True}
    rows["Python ONNX Runtime fp32, 1t"] = {"latency_ms": latency_summary(fp32_ms), "threads": 1}
    rows["Python PyTorch fp32, 1t"] = {"latency_ms": latency_summary(torch_ms), "threads": 1}
    rows["ONNX Runtime Mobile .ort INT8, 1t (phone proxy)"] = {"latency_ms": latency_summary(ort_ms), "threads": 1,
                                                               **_agreement(ort_q8, ref)}
    res = {"sentences": len(texts), "rows": rows, "checkpoint": export["checkpoint"],
           "download_mb": {k: v / 1e6 for k, v in export["download_bytes"].items()},
           "model_mb": {f: n / 1e6 for f, n in {**{f"web/{k}": v for k, v in export["files"].items()
                                                   if k.startswith("model/onnx/")},
                                                **{f"ort/{k}": v for k, v in mobile["files"].items()
                                                   if k.endswith(".ort")}}.items()},
           "first_prediction_ms": {k: r["info"]["first_prediction_ms"] for k, r in browser.items()},
           "cross_origin_isolated": all(r["info"]["crossOriginIsolated"] for r in browser.values()),
           "ui_label_matches": all(r["ui_label"] == ref_labels[0] for r in browser.values()),
           "screenshot": "edge.png"}
    write_json(res, out / "edge.json")
    return res


def sst2_sentences(data_dir: str | None, n: int) -> list[str]:
    """The first ``n`` SST-2 dev sentences of the data root (BertdistilError without one)."""
    root = resolve_data_root(data_dir)
    if root is None:
        raise BertdistilError("the edge benchmark classifies SST-2 dev sentences: pass --data-dir DIR or set "
                              "BERTDISTIL_DATA")
    return [ex[0] for ex in load_examples(builtin_tasks(root)["SST-2"], "dev", n)]


def edge_results(run: str | Path, cfg) -> dict:
    """reproduce's edge stage: the web export of OUT/compress/SST-2/student_fp32 (the task-distilled
    student) into OUT/edge/web, then ``edge_bench`` into OUT/edge (cached in OUT/edge/edge.json).
    {"skipped": reason} without a browser or the web runtime (the reason is also printed)."""
    import sys

    reason = browser_missing()
    try:
        node_modules()
    except BertdistilError as e:
        reason = reason or str(e)
    if reason is not None:
        print(f"bertdistil: edge stage skipped: {reason}", file=sys.stderr)
        return {"skipped": reason}
    layout = RunLayout(run)

    def compute() -> dict:
        export_web(layout.compress_dir("SST-2") / "student_fp32", layout.edge / "web")
        return edge_bench(layout.edge / "web", sst2_sentences(cfg.data_dir, cfg.edge.sentences), layout.edge,
                          cfg.edge.threads)
    return cached_json(layout.edge / "edge.json", compute)
