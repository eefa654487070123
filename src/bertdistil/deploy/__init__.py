"""Making a fine-tuned model small and fast and measuring it: compressed variants (INT8, pruning, ONNX), the runners
that load them, the web (transformers.js) and mobile (ONNX Runtime .ort) exports, the inference benchmark (paper
Table 3) and the browser benchmark.

The names below are imported from their modules on first use, so importing the package is cheap.
"""
_EXPORTS = {
    "SIZED_FILES": "bench", "size_on_disk_mb": "bench", "peak_rss_mb": "bench", "bench_texts": "bench",
    "write_bench_texts": "bench", "count_params": "bench", "bench_model": "bench", "VARIANTS": "compress",
    "load_eager": "compress", "ffn_pairs": "compress", "taylor_importance": "compress", "prune_ffn": "compress",
    "magnitude_prune": "compress", "quantize_onnx_int8": "compress", "export_onnx": "compress",
    "evaluate_dir": "compress", "VARIANT_BUILDERS": "compress", "make_variant": "compress", "VariantJob": "compress",
    "compress": "compress",
    "CHROMIUM": "edge_bench", "CHROMEDRIVER": "edge_bench", "FLAGS": "edge_bench", "MAX_SEQ_LEN": "edge_bench",
    "browser_missing": "edge_bench", "open_page": "edge_bench", "page_classify": "edge_bench",
    "page_ui_label": "edge_bench", "ort_logits": "edge_bench", "torch_latency": "edge_bench",
    "latency_summary": "edge_bench", "browser_runs": "edge_bench", "edge_bench": "edge_bench",
    "sst2_sentences": "edge_bench", "edge_results": "edge_bench", "VARIANT_FILE": "runners", "ONNX_FILE": "runners",
    "TORCH_INT8_FILE": "runners", "variant_info": "runners", "input_names": "runners",
    "quantize_torch_int8": "runners", "Runner": "runners", "load_int8_state": "runners", "load_runner": "runners",
    "predict_logits": "runners", "WEB_ENV": "web_export", "VENDOR_FILES": "web_export", "APP_DIR": "web_export",
    "MODEL_FILES": "web_export", "node_modules": "web_export", "source_checkpoint": "web_export",
    "onnx_pair": "web_export", "page_download_bytes": "web_export", "export_web": "web_export",
    "export_ort": "web_export", "IsolatedHandler": "web_export", "start_server": "web_export"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
