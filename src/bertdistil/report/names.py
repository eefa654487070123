"""One name and one colour per model of a run, used by every table and plot (report, curve, retention).

Keys are the names results.json uses: the teacher rows, the controls (``truncated``, ``mlm_only``), the
distilled ``student`` and its task-distilled ``student_d``, ablation recipes, and the ``majority`` baseline.
"""
from __future__ import annotations

NAMES = {"majority": "majority class (train)", "teacher": "teacher (MLM-prepared)",
         "teacher_original": "teacher (original checkpoint)", "truncated": "truncated teacher (control)",
         "mlm_only": "MLM-only student (control)", "student": "student (distilled)",
         "student_d": "student (D) (task distillation)", "hidden_only": "hidden-state distillation (α_ce = 0)",
         "triple": "triple loss (paper α)", "emb_mse": "sentence-embedding MSE (control)"}

COLOURS = {"student": "tab:blue", "mlm_only": "tab:orange", "truncated": "tab:green", "teacher": "black",
           "teacher_original": "tab:gray", "student_d": "tab:purple", "majority": "tab:brown",
           "hidden_only": "tab:cyan", "triple": "tab:red"}
_SPARE = ("tab:olive", "tab:pink", "darkgoldenrod", "slateblue", "teal", "firebrick")


def model_name(model: str, names: dict[str, str] | None = None) -> str:
    """The human name of a results.json model key (the key itself when unknown); ``names`` overrides NAMES."""
    return {**NAMES, **(names or {})}.get(model, model)


def model_colour(model: str) -> str:
    """The model's matplotlib colour: fixed for known keys, else one of a spare set chosen by a stable hash of
    the key, so the same model has the same colour in every plot and every run."""
    if model in COLOURS:
        return COLOURS[model]
    return _SPARE[sum(model.encode()) % len(_SPARE)]
