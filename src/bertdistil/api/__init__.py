"""The documented Python API: each step of the recipe as one function, the same functions the ``bertdistil``
command calls, re-exported by ``bertdistil`` itself. Importing it changes nothing in the process (no
environment variable is set); no hub is contacted because every model and tokenizer is loaded from a local
directory with ``local_files_only``.

    import bertdistil
    cfg = bertdistil.load_config("smoke", data_dir="~/data")
    teacher = bertdistil.prepare_teacher(cfg)["dir"]              # fits an MLM head when the teacher has none
    bertdistil.build_student(teacher, "runs/nb/student_init")     # one layer out of two
    run = bertdistil.distill(cfg, "runs/nb", teacher=teacher)     # → runs/nb/student
    bertdistil.evaluate_mlm(run["student"], cfg)["accuracy"]
    bertdistil.finetune(run["student"], "SST-2", "runs/nb/sst2", cfg)["accuracy"]

Errors are ``bertdistil.errors.BertdistilError`` with one line naming the input and the fix.
"""
from .downstream import ablate, evaluate, evaluate_downstream, finetune, predict, sentence_eval, zero_shot
from .efficiency import bench, bench_train, bench_web, compress, export, serve
from .pretraining import (
    build_student,
    distill,
    evaluate_mlm,
    fill_mask,
    load_config,
    mlm_baseline,
    prepare_corpus,
    prepare_teacher,
    reproduce,
)
from .reports import curve, regenerate_report

__all__ = ["load_config", "prepare_corpus", "prepare_teacher", "build_student", "distill", "evaluate_mlm",
           "mlm_baseline", "fill_mask", "reproduce", "finetune", "evaluate", "predict", "evaluate_downstream",
           "ablate", "zero_shot", "sentence_eval", "bench", "bench_train", "compress", "export", "serve", "bench_web",
           "curve", "regenerate_report", "DistillationTrainer"]


def __getattr__(name: str):
    if name == "DistillationTrainer":           # imports transformers' Trainer: only when asked for
        from ..downstream.trainer import DistillationTrainer
        return DistillationTrainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
