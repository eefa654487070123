"""Fine-tuning and scoring on downstream tasks: the GLUE / IMDb protocol over seeds with its controls and zero-shot
STS-B, fine-tuning on transformers' Trainer with task distillation (DistillationTrainer), SQuAD, and one model
on one task (finetune, evaluate, predict).

The names below are imported from their modules on first use, so importing the package is cheap.
"""
_EXPORTS = {
    "tokenize_examples": "finetune", "predict_outputs": "finetune", "to_predictions": "finetune",
    "score": "finetune", "FitOptions": "trainer", "DistillationTrainer": "trainer",
    "training_arguments": "trainer", "fit": "trainer", "train_classifier": "finetune", "MODELS": "protocol",
    "MAJORITY": "protocol", "COMPARISONS": "protocol", "MACRO_METRIC_NOTE": "protocol", "model_dirs": "protocol",
    "protocol_dir": "protocol", "task_data": "protocol", "majority_baseline": "protocol",
    "NOT_IN_PRESET": "protocol", "unavailable": "protocol", "run_task": "protocol", "glue_scores": "protocol",
    "zero_shot_results": "protocol", "run_downstream": "protocol", "run_squad": "protocol",
    "downstream_results": "protocol", "finetune_model": "single_task", "inference_max_len": "single_task",
    "predict_file": "single_task", "evaluate_model": "single_task", "load_squad": "squad", "article_split": "squad",
    "flatten": "squad", "featurize": "squad", "span_logits": "squad", "best_spans": "squad",
    "finetune_squad": "squad"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
