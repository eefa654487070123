"""The drivers of a run: ``reproduce`` (the whole recipe, stage by stage), ``distill`` and ``ablate``, what their
stages share (the run ``Context``, the prepared teacher, resumable training of one model, the run-folder check), the
efficiency stages, and the named recipes and controls.

The names below are imported from their modules on first use, so importing the package is cheap.
"""
_EXPORTS = {
    "PAPER_DELTA": "ablate", "DESCRIPTION": "ablate", "row_recipe": "ablate", "run_ablation": "ablate",
    "training_corpus": "context", "eval_corpus": "context", "Context": "context", "distill_into": "distill",
    "bench_results": "efficiency_stages", "compress_results": "efficiency_stages",
    "time_variants": "efficiency_stages", "variant_rows": "efficiency_stages",
    "train_throughput_results": "efficiency_stages", "compress_model": "efficiency_stages", "Recipe": "recipes",
    "RECIPES": "recipes", "CONTROLS": "recipes", "ABLATION_ROWS": "recipes", "recipe": "recipes",
    "resolve": "recipes", "write_results": "reproduce", "run_recipe": "reproduce", "stage_names": "reproduce",
    "pretraining_stages": "reproduce", "skipped_stages": "reproduce", "data_record": "reproduce",
    "efficiency_stages": "reproduce", "teacher_for": "stages", "evaluated": "stages", "train_stage": "stages",
    "POST_TRAINING": "stages", "EXECUTION": "stages", "has_stage_output": "stages", "check_out_dir": "stages"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
