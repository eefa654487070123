"""Model cards: a Hugging Face ``README.md`` (YAML metadata + text) in every model directory we save, generated
from the measurements (results.json of a run, eval_results.json of a fine-tuning), never typed by hand.

The metadata (``huggingface_hub.ModelCardData``) carries ``license`` from the teacher's own card (passed on to
every card made from it), ``base_model`` = the hub id of the model it was made from when that is known
(``hub_id``; omitted otherwise), ``library_name``, ``pipeline_tag``, ``tags`` (``distillation``…), ``datasets`` and a
``model-index`` whose values are the results' numbers (medians over fine-tuning seeds, percent; masked-LM
accuracy in percent). The text says how the model was made, what it scored next to its teacher and the
controls, its size and speed, and its limitations.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ..errors import BertdistilError

EMBEDDED_TEACHER = "sentence-transformers/all-MiniLM-L6-v2"
GLUE_CONFIGS = {"CoLA": "cola", "SST-2": "sst2", "MRPC": "mrpc", "STS-B": "stsb", "QQP": "qqp", "MNLI": "mnli",
                "QNLI": "qnli", "RTE": "rte", "WNLI": "wnli"}
HUB_DATASETS = {"glue": "nyu-mll/glue", "imdb": "stanfordnlp/imdb", "squad": "rajpurkar/squad",
                "wikitext": "Salesforce/wikitext"}
ROLES = {"student": "the distilled student", "truncated": "the truncated teacher (the student before distillation, "
         "a control)", "mlm_only": "a control: the student's initialisation trained with the masked-LM loss alone",
         "teacher": "the teacher with a fitted masked-LM head"}


def _origin(src: str | Path) -> Path:
    """The checkpoint a folder stands for: a teacher prepared by bertdistil (CACHE/teachers/<key>/final) is
    the checkpoint it was prepared from (its ``source.json``); any other folder is itself."""
    record = Path(src).parent / "source.json"
    if Path(src).name == "final" and record.is_file():
        return Path(json.loads(record.read_text())["source"])
    return Path(src)


def hub_id(src: str | Path) -> str | None:
    """The Hugging Face Hub id of a checkpoint when it is known — the embedded teacher, the base-size teacher,
    or a teacher prepared from either — else None (a local folder such as a student or a fine-tuned model:
    the Hub accepts only model ids as ``base_model``)."""
    from ..data.shipped import default_teacher
    src = _origin(src)
    if src.name == "all-mpnet-base-v2":                     # the base-size teacher (baseteacher.py)
        return "sentence-transformers/all-mpnet-base-v2"
    try:
        if src.resolve() == default_teacher().resolve():
            return EMBEDDED_TEACHER
    except BertdistilError:
        pass
    return None


def teacher_id(src: str | Path) -> str:
    """How a card names a checkpoint: its hub id (``hub_id``) when known, else its directory's name."""
    return hub_id(src) or _origin(src).name


def teacher_license(src: str | Path) -> str | None:
    """``license`` from the checkpoint's own model card (README.md metadata), if it has one: a teacher's
    card, or a bertdistil card that carried the teacher's licence on (student, fine-tuned, compressed)."""
    card = _origin(src) / "README.md"
    return ModelCard.load(card).data.license if card.is_file() else None


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def glue_results(model: str, r: dict) -> list[EvalResult]:
    """One EvalResult per GLUE task and metric the model was fine-tuned on (median over seeds, percent)."""
    out = []
    for task, by_model in (r.get("glue") or {}).items():
        entry = by_model.get(model) if isinstance(by_model, dict) else None
        if not entry or "seeds" not in entry:
            continue
        for metric, values in entry["seeds"].items():
            out.append(EvalResult(task_type="text-classification", task_name=f"GLUE {task}",
                                  dataset_type=HUB_DATASETS["glue"], dataset_name=f"GLUE {task}",
                                  dataset_config=GLUE_CONFIGS.get(task), dataset_split="validation",
                                  metric_type=metric, metric_value=_median(values),
                                  metric_name=f"{metric} (median of {len(values)} fine-tuning seeds)"))
    return out


def mlm_result(model: str, r: dict) -> list[EvalResult]:
    """Masked-token accuracy (percent) on the run's evaluation text, when the model was evaluated."""
    m = (r.get("mlm") or {}).get(model)
    if not m:
        return []
    ev = r.get("eval_corpus", {})
    wikitext = ev.get("name") == "wikitext2_valid"
    return [EvalResult(task_type="fill-mask", task_name="masked-token prediction (fixed mask)",
                       dataset_type=HUB_DATASETS["wikitext"] if wikitext else "local-corpus",
                       dataset_name=ev.get("description", "held-out corpus"),
                       dataset_config="wikitext-2-raw-v1" if wikitext else None,
                       dataset_split="validation" if wikitext else "heldout",
                       metric_type="accuracy", metric_value=round(100 * m["accuracy"], 2),
                       metric_name="masked-token accuracy")]


def zero_shot_result(model: str, r: dict) -> list[EvalResult]:
    """Zero-shot STS-B dev Spearman of mean-pooled embeddings (no fine-tuning), when measured."""
    z = ((r.get("downstream") or {}).get("zero_shot_stsb") or {}).get(model)
    if not z:
        return []
    return [EvalResult(task_type="sentence-similarity", task_name="zero-shot STS-B (cosine of mean-pooled "
                       "embeddings)", dataset_type=HUB_DATASETS["glue"], dataset_name="GLUE STS-B",
                       dataset_config="stsb", dataset_split="validation", metric_type="spearmanr",
                       metric_value=round(z["spearman"], 2), metric_name="Spearman (x100)")]


def datasets_used(r: dict) -> list[str]:
    """Hub ids of the benchmark datasets whose files the run read (results.json "data")."""
    files = (r.get("data") or {}).get("files", {})
    return sorted({HUB_DATASETS[f.split("/")[0]] for f in files if f.split("/")[0] in HUB_DATASETS})


def save_card(model_dir: Path, data: ModelCardData, title: str, body: list[str]) -> Path:
    """Write ``model_dir/README.md``: the metadata as YAML front matter, then ``# title`` and the body lines."""
    path = Path(model_dir) / "README.md"
    text = "\n".join([f"---\n{data.to_yaml()}\n---", "", f"# {title}", "", *body, ""])
    tmp = path.with_name("README.md.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
