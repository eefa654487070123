"""The model cards of what bertdistil saves (modelcard.py has the format): pre-trained models of a run
(student, truncated teacher, controls) from its results.json, fine-tuned classifiers from their dev scores,
compressed variants from their measured size and scores.
"""
from __future__ import annotations

from pathlib import Path

from huggingface_hub import EvalResult, ModelCardData

from . import __version__
from .layout import RunLayout
from .modelcard import (
    GLUE_CONFIGS,
    HUB_DATASETS,
    ROLES,
    datasets_used,
    glue_results,
    mlm_result,
    save_card,
    teacher_id,
    teacher_license,
    zero_shot_result,
)
from .sentence import sentence_modules

PAPER = "DistilBERT (Sanh et al. 2019, arXiv:1910.01108)"
METRICS = ("accuracy", "f1", "mcc", "pearson", "spearman", "exact_match")
LIBRARIES = {"hf": "transformers", "onnx": "onnx", "torch_int8": "pytorch"}
COMPARED = ("teacher", "teacher_original", "truncated", "mlm_only", "student")


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def comparison_table(r: dict) -> list[str]:
    """Masked-LM accuracy, GLUE macro-score and zero-shot STS-B of the run's models, side by side."""
    mlm, macro = r.get("mlm") or {}, r.get("glue_macro") or {}
    zs = (r.get("downstream") or {}).get("zero_shot_stsb") or {}
    seeds = len(((r.get("config") or {}).get("finetune") or {}).get("seeds") or [])
    rows = ["| model | masked-token accuracy (%) | GLUE macro-score (median of "
            f"{seeds} seeds) | zero-shot STS-B Spearman |", "|---|---:|---:|---:|"]
    for m in COMPARED:
        if m in mlm or m in macro or m in zs:
            acc = 100 * mlm[m]["accuracy"] if m in mlm else None
            rows.append(f"| {m} | {_pct(acc)} | {_pct(macro.get(m))} | {_pct(zs.get(m, {}).get('spearman'))} |")
    return rows


def _training_line(name: str, r: dict) -> str:
    t = r.get("distill") if name == "student" else (r.get("controls") or {}).get(name)
    if not t:
        return "- training: none (the teacher's layers, copied)"
    loss = r.get("config", {}).get("loss", {}) if name == "student" else {}
    weights = ", ".join(f"{k}={v}" for k, v in loss.items() if k.startswith("alpha_") and v) or name
    return (f"- training: {t['steps']} optimizer steps × {t['sequences_per_step']} sequences = "
            f"{t['tokens_seen']:,} tokens in {t['wall_s'] / 60:.1f} min; loss weights {weights}"
            + (f", temperature {loss['temperature']}" if loss.get("temperature") else ""))


def _usage(model_dir: Path) -> list[str]:
    lines = ["## Usage", "", "```python"]
    if sentence_modules(model_dir) is not None:
        lines += ["from sentence_transformers import SentenceTransformer",
                  "embeddings = SentenceTransformer(MODEL_DIR).encode([\"A sentence.\", \"Another one.\"])"]
    lines += ["from transformers import pipeline", "pipeline(\"fill-mask\", model=MODEL_DIR)(\"Paris is the [MASK] "
              "of France.\")", "```", ""]
    return lines


def pretrained_card(model_dir: Path, name: str, r: dict) -> Path:
    """README.md of a pre-trained model of a run (``name``: student, truncated, mlm_only, …) from its results."""
    t, s, cfg = r.get("teacher", {}), r.get("student", {}), r.get("config", {})
    source = t.get("source") or t.get("name_or_path", "")
    tags = ["distillation", "bertdistil", "knowledge-distillation"] + \
        (["sentence-transformers", "sentence-similarity"] if sentence_modules(model_dir) is not None else [])
    results = mlm_result(name, r) + zero_shot_result(name, r) + glue_results(name, r)
    data = ModelCardData(license=teacher_license(source), base_model=teacher_id(source), library_name="transformers",
                         pipeline_tag="fill-mask", tags=tags, datasets=datasets_used(r) or None, language="en",
                         model_name=name, eval_results=results or None)
    prep = t.get("preparation", {})
    head = ("its masked-LM head fitted here (encoder unchanged)" if cfg.get("teacher_head_only") else
            "adapted with the masked-LM loss here") if prep.get("prepared") else "used as it is"
    bench = (r.get("bench") or {})
    speed = [f"- {who}: {b['params']:,} parameters, {b['size_mb']:.1f} MB, batch-1 latency at 128 tokens "
             f"{b['latency_ms']['128']['p50']:.1f} ms (p50, {b['threads']} thread)"
             for who, b in bench.items() if who.endswith("@1t") and "128" in b.get("latency_ms", {})]
    body = [f"{ROLES.get(name, name)} of `{teacher_id(source)}`, made by bertdistil {__version__} following {PAPER} "
            f"with `bertdistil reproduce --preset {r.get('preset', cfg.get('preset'))}`.", "",
            "## How it was made", "",
            f"- teacher: `{teacher_id(source)}` ({t.get('layers')} layers, hidden {t.get('hidden')}, "
            f"{t.get('params', 0):,} parameters), {head}",
            f"- this model: {s.get('layers')} layers copied from teacher layers {s.get('layer_map')}, hidden "
            f"{s.get('hidden')}, {s.get('params', 0):,} parameters (token-type embeddings and pooler dropped)",
            _training_line(name, r), "",
            "## Results (this run; masked-LM on a fixed mask, GLUE dev sets fine-tuned per seed)", "",
            *comparison_table(r), ""]
    if speed:
        body += ["## Size and speed (CPU, paper Table 3 protocol)", "", *speed, ""]
    body += _usage(model_dir)
    body += ["## Limitations", "",
             "- Budget: the numbers come from a run sized for a small CPU (see the training line and the "
             "fine-tuning caps in the run's config); they compare the models of this run, not leaderboard entries.",
             "- A sentence-embedding teacher has no masked-LM head of its own: masked-token accuracies are low in "
             "absolute terms for every model here, the teacher included.",
             "- English text only; inherits the teacher's biases."]
    return save_card(model_dir, data, f"{name} — a distilled {teacher_id(source).split('/')[-1]}", body)


def finetuned_card(model_dir: Path, task: str, metrics: dict, base_model: str, method: str | None = None,
                   library: str = "transformers", size_mb: float | None = None) -> Path:
    """README.md of a fine-tuned (or compressed) classifier: its dev metrics, where it came from, how it was made."""
    glue = task in GLUE_CONFIGS
    results = [EvalResult(task_type="text-classification", task_name=task,
                          dataset_type=HUB_DATASETS["glue"] if glue else HUB_DATASETS.get(task.lower(), task),
                          dataset_name=f"GLUE {task}" if glue else task, dataset_config=GLUE_CONFIGS.get(task),
                          dataset_split="validation" if glue else "test", metric_type=k, metric_value=round(v, 2))
               for k, v in metrics.items() if isinstance(v, (int, float)) and k in METRICS]
    data = ModelCardData(base_model=base_model, library_name=library, pipeline_tag="text-classification",
                         tags=["distillation", "bertdistil", *(["glue"] if glue else [])], language="en",
                         model_name=Path(model_dir).name, eval_results=results or None)
    body = [f"`{base_model}` fine-tuned on {task} by bertdistil {__version__}"
            + (f", then compressed: {method}" if method else "") + ".", "",
            "Dev-set scores (percent): " + ", ".join(f"{r.metric_type} {r.metric_value}" for r in results) + ".", ""]
    if size_mb:
        body += [f"Size: {size_mb:.1f} MB.", ""]
    body += ["Limitations: fine-tuned on a capped, seeded sample of the train split with one seed; see the run's "
             "report for the median over seeds and the controls."]
    return save_card(model_dir, data, f"{Path(model_dir).name} ({task})", body)



def write_run_cards(run: Path, r: dict) -> list[Path]:
    """Cards for every pre-trained model directory of a run folder (student, truncated = student_init, controls)."""
    layout = RunLayout(run)
    dirs = {"truncated": layout.student_init, "student": layout.student,
            **{name: layout.control(name) for name in (r.get("controls") or {})}}
    return [pretrained_card(d, name, r) for name, d in dirs.items() if (d / "config.json").is_file()]
