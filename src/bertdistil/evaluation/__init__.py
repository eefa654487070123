"""Scores and their uncertainty: masked-LM accuracy and perplexity with a fixed mask and its most-frequent-token
baseline, bootstrap intervals, seed statistics and verdicts, downstream metrics, zero-shot STS-B, and the
sentence-encoder suite (zero-shot STS12–15 / SICK-R / STS-B and SentEval-style linear probes).

The names below are imported from their modules on first use, so importing the package is cheap.
"""
_EXPORTS = {
    "N_BOOT": "bootstrap", "interval": "bootstrap", "paired_difference": "bootstrap", "summarised": "bootstrap",
    "mlm_uncertainty": "bootstrap", "task_metrics": "metrics", "normalize_answer": "metrics", "squad_f1": "metrics",
    "squad_exact": "metrics", "squad_scores": "metrics", "EvalSet": "mlm", "score_mlm": "mlm",
    "unigram_baseline": "mlm", "fill_mask_examples": "mlm", "summary": "seedstats", "macro_per_seed": "seedstats",
    "MIN_SEEDS": "seedstats", "compare": "seedstats", "verdict": "seedstats", "retention": "seedstats",
    "embed": "zero_shot", "sts_zero_shot": "zero_shot", "sentence_suite": "sentence_suite",
    "suite_results": "sentence_suite", "sentence_encoder": "sentence_suite", "sts_score": "sentence_suite",
    "probe_score": "sentence_suite", "cv_probe_score": "sentence_suite", "fit_probe": "sentence_suite"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
