"""What each pre-trained model keeps as a sentence encoder: zero-shot STS and linear-probe tables, as markdown,
from results.json's ``sentence_eval`` ({model: evaluation.sentence_suite result})."""
from __future__ import annotations

from .names import model_name

STS_COLUMNS = ("STS12", "STS13", "STS14", "STS15", "SICK-R", "STS-B")
PROBE_COLUMNS = ("MR", "CR", "SUBJ", "MPQA", "TREC", "SST-2", "MRPC", "CoLA", "RTE")
NAMES = {"teacher": "teacher (as given)"}


def _f(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def sts_table(suite: dict) -> list[str]:
    """Zero-shot Spearman (%) per STS set and their mean, one row per model (sets a model lacks: –)."""
    cols = [c for c in STS_COLUMNS if any(c in (r.get("sts") or {}) for r in suite.values())]
    if not cols:
        return []
    lines = ["| model | " + " | ".join(cols) + " | mean |", "|---|" + "---:|" * (len(cols) + 1)]
    for name, r in suite.items():
        sts = r.get("sts") or {}
        cells = [_f((sts.get(c) or {}).get("spearman")) for c in cols]
        lines.append(f"| {model_name(name, NAMES)} | " + " | ".join(cells) + f" | {_f(r.get('sts_mean'))} |")
    return lines


def probe_table(suite: dict) -> list[str]:
    """Linear-probe accuracy (%) per set (CoLA: its MCC beside it) and the mean accuracy, one row per model."""
    cols = [c for c in PROBE_COLUMNS if any(c in (r.get("probes") or {}) for r in suite.values())]
    if not cols:
        return []
    head = [f"{c} (acc. / MCC)" if c == "CoLA" else c for c in cols]
    lines = ["| model | " + " | ".join(head) + " | mean acc. |", "|---|" + "---:|" * (len(cols) + 1)]
    for name, r in suite.items():
        probes = r.get("probes") or {}
        cells = []
        for c in cols:
            p = probes.get(c) or {}
            cell = _f(p.get("accuracy"))
            cells.append(f"{cell} / {_f(p.get('mcc'))}" if c == "CoLA" and p else cell)
        lines.append(f"| {model_name(name, NAMES)} | " + " | ".join(cells) + f" | {_f(r.get('probe_mean'))} |")
    return lines


def sentence_eval_section(results: dict) -> list[str]:
    """The report's sentence-encoder section ([] when the run has no ``sentence_eval``)."""
    suite = results.get("sentence_eval") or {}
    if not suite:
        return []
    opts = next(iter(suite.values())).get("options", {})
    cap = opts.get("max_eval_examples")
    sample = f"a seeded sample of {cap} pairs per set" if cap else "every pair"
    train = (f"a seeded sample of {opts['max_train_examples']} training examples per probe"
             if opts.get("max_train_examples") else "the whole training splits")
    train += f", {cap} test examples" if cap else ", every test example"
    lines = ["## Sentence encoder: zero-shot STS and linear probes", "",
             "Zero-shot: Spearman (%) of the cosine of each model's own sentence embeddings against the gold "
             f"similarity (MTEB's protocol: each STS year's sets concatenated, SICK-R all of SICK), on {sample}. "
             "No fine-tuning: a model's scores are deterministic, but a trained student still carries the noise of "
             "its distillation seed.", ""]
    lines += sts_table(suite) + [""]
    probes = probe_table(suite)
    if probes:
        lines += ["Linear probes (SentEval): frozen embeddings, a standardised logistic regression whose C is "
                  f"chosen on 10% of each training split; {train}; MR, CR, SUBJ, MPQA {opts.get('folds', 10)}-fold "
                  "cross-validated, TREC on its test file, GLUE tasks on dev. Accuracy (%).", "", *probes, ""]
    missing = sorted({m for r in suite.values() for m in r.get("missing", [])})
    if missing:
        lines += [f"Not in the data root, so not measured: {', '.join(missing)}.", ""]
    return lines
