"""Distillation training: the resumable training loop, the triple loss and hidden-state losses, dynamic masking, the
optimiser and schedule, the training log, CPU kernels, distributed (torchrun) helpers, teacher preparation (an MLM
head for a head-less teacher), and training throughput and MFU.

The names below are imported from their modules on first use, so importing the package is cheap.
"""
_EXPORTS = {
    "NAME": "cpu_kernels", "keep_mask": "cpu_kernels", "inverted_dropout": "cpu_kernels", "Dropout": "cpu_kernels",
    "attention": "cpu_kernels", "use_cpu_kernels": "cpu_kernels", "init_from_env": "distributed",
    "rank_world": "distributed", "is_main": "distributed", "barrier": "distributed", "all_reduce_sum": "distributed",
    "mask_seed": "distributed", "read_log": "log", "TrainLogger": "log", "PHASES": "loop", "CHECKPOINT_KEYS": "loop",
    "TrainOptions": "loop", "Run": "loop", "setup": "loop", "train_step": "loop", "save_checkpoint": "loop",
    "load_checkpoint": "loop", "fit": "loop", "finish": "loop", "train": "loop", "soft_target_loss": "losses",
    "mlm_loss": "losses", "CHUNK_ELEMENTS": "losses", "vocab_losses": "losses", "cosine_loss": "losses",
    "hidden_mse_loss": "losses", "logit_mse_loss": "losses", "combine": "losses",
    "task_classification_loss": "losses", "task_regression_loss": "losses", "span_loss": "losses",
    "uniform_layer_map": "losses", "layers_mse_loss": "losses", "pkd_loss": "losses", "relation_kl_loss": "losses",
    "token_probabilities": "masking", "Masker": "masking", "LAYER_TERMS": "objective", "HIDDEN_TERMS": "objective",
    "TEACHER_TERMS": "objective", "StudentForward": "objective", "weights_of": "objective",
    "hidden_terms": "objective", "compute_losses": "objective", "make_optimizer": "optim", "optimizer_step": "optim",
    "prepare_teacher_dir": "teacher_prep", "step_flops": "throughput", "token_batches": "throughput",
    "gemm_ceiling": "throughput", "robust_peak": "throughput", "CATEGORIES": "throughput",
    "time_shares": "throughput", "MAX_EXTRA_WARMUP": "throughput", "FAULTS_SETTLED": "throughput",
    "bench_train": "throughput", "StepSetup": "throughput"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        from importlib import import_module
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
