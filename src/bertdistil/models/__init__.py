"""Models as folders: loading checkpoints (masked-LM, classifier, encoder) and describing them, building the student
from the teacher's layers, the base-size teacher, sentence-transformers files, and model cards.

The names below are imported from their modules on first use, so importing the package is cheap.
"""
_EXPORTS = {
    "NAME": "base_teacher", "PARTS": "base_teacher", "ZIP_SHA256": "base_teacher", "WEIGHTS_SHA256": "base_teacher",
    "INSTALL": "base_teacher", "part_files": "base_teacher", "base_teacher": "base_teacher",
    "resolve_teacher": "base_teacher", "EMBEDDED_TEACHER": "cards", "GLUE_CONFIGS": "cards", "HUB_DATASETS": "cards",
    "ROLES": "cards", "hub_id": "cards", "teacher_id": "cards", "teacher_license": "cards", "glue_results": "cards",
    "mlm_result": "cards", "zero_shot_result": "cards", "sentence_suite_results": "cards",
    "MTEB_STS": "cards", "datasets_used": "cards", "save_card": "cards",
    "PAPER": "cards", "METRICS": "cards", "LIBRARY_OF_FORMAT": "cards", "COMPARED": "cards",
    "comparison_table": "cards", "classifier_usage": "cards", "pretrained_card": "cards", "finetuned_card": "cards",
    "write_run_cards": "cards", "resolve_device": "loading", "check_model_dir": "loading",
    "load_tokenizer": "loading", "load_masked_lm": "loading", "CLASSIFIER_HEADS": "loading",
    "load_classifier": "loading", "describe": "loading", "encode": "loading", "encode_all": "loading",
    "relation_scores": "loading", "head_logits": "loading", "bf16_inference_copy": "loading",
    "training_teacher": "loading", "n_layers": "loading", "ST_FILES": "sentence", "sentence_modules": "sentence",
    "copy_sentence_config": "sentence", "default_layer_map": "student", "check_layer_map": "student",
    "resolve_layer_map": "student", "student_from_teacher": "student", "prepare_tokenizer_for": "student",
    "init_student_dir": "student"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
