"""Text and benchmark data: reading documents from text, gzip, parquet and datasets folders, the tokenised pre-training
corpus, the benchmark data root, rows of task files, the built-in tasks and a user's own task, and the shipped
corpus and cache folder.

The names below are imported from their modules on first use, so importing the package is cheap.
"""
_EXPORTS = {
    "ENV": "benchmark_root", "LAYOUT_HINT": "benchmark_root", "resolve_data_root": "benchmark_root",
    "find_split": "benchmark_root", "task_files": "benchmark_root", "squad_files": "benchmark_root",
    "wikitext_valid": "benchmark_root", "sha256_file": "benchmark_root", "manifest": "benchmark_root",
    "skipped_notice": "benchmark_root", "token_dtype": "corpus", "TokenDataset": "corpus",
    "prepare_corpus": "corpus", "CorpusSpec": "corpus", "LengthGroupedBatches": "corpus", "collate": "corpus",
    "MAX_BLOCK_CHARS": "documents", "expand_corpus": "documents", "iter_documents": "documents",
    "is_arrow_source": "documents", "dataset_splits": "documents", "iter_arrow_documents": "documents",
    "documents": "documents", "is_heldout": "documents", "split_documents": "documents",
    "heldout_documents": "documents", "tokenizer_parallelism": "documents", "tokenized_chunks": "documents",
    "open_text": "rows", "text_rows": "rows", "load_dataset_source": "rows", "label_names": "rows",
    "dataset_rows": "rows", "rows": "rows", "shipped_data_dir": "shipped", "default_corpus": "shipped",
    "default_teacher": "shipped", "cache_dir": "shipped", "TASK_FILE": "tasks", "TaskSpec": "tasks",
    "GLUE_ORDER": "tasks", "GLUE_CONFIGS": "tasks", "SPLITS": "tasks", "builtin_tasks": "tasks",
    "load_split": "tasks", "subsample": "tasks", "task_examples": "tasks", "heldout_split": "tasks",
    "load_examples": "tasks", "TEXT_COLUMNS": "user_task", "PAIR_COLUMNS": "user_task", "LABEL_COLUMNS": "user_task",
    "user_task": "user_task", "save_task": "user_task", "load_task": "user_task", "resolve_task": "user_task",
    "TaskData": "user_task", "senteval_dir": "senteval", "sts_pairs": "senteval", "sick_pairs": "senteval",
    "class_sentences": "senteval", "trec_split": "senteval"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
