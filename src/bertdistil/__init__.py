"""bertdistil: distil BERT-family encoders into smaller students (Sanh et al. 2019, arXiv:1910.01108).

The Python API (``bertdistil.api``, re-exported here): ``load_config``, ``prepare_teacher``, ``build_student``,
``distill``, ``evaluate_mlm``, ``reproduce``, ``finetune``, ``evaluate``, ``zero_shot``, ``sentence_eval``, ``bench``,
``compress``, ``export`` and the rest of ``API`` — the functions the ``bertdistil`` command calls — and
``DistillationTrainer``, transformers' ``Trainer`` with task distillation. Importing
the package changes nothing in the process (no environment variable is set, nothing heavy is imported until
a function is used); no hub is contacted, because every model is loaded from a local directory with
``local_files_only=True``. The command line additionally sets HF_HUB_OFFLINE / HF_DATASETS_OFFLINE for itself.
"""
from ._version import __version__

API = ("load_config", "prepare_corpus", "prepare_teacher", "build_student", "distill", "evaluate_mlm",
       "mlm_baseline", "fill_mask", "reproduce", "finetune", "evaluate", "predict", "evaluate_downstream", "ablate",
       "zero_shot", "sentence_eval", "bench", "bench_train", "compress", "export", "serve", "bench_web", "curve",
       "regenerate_report")
CLASSES = ("DistillationTrainer",)
__all__ = [*API, *CLASSES, "__version__"]


def __getattr__(name: str):
    if name in API or name in CLASSES:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'bertdistil' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(API) | set(CLASSES))
