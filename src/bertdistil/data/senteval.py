"""Sentence-embedding benchmarks in SentEval's ``data/downstream`` layout, under the data root's ``senteval/``.

Layout (as SentEval's ``get_transfer_data.bash`` leaves it):
  senteval/STS/STS1{2,3,4,5}-en-test/STS.input.<set>.txt   tab-separated sentence pairs, one per line
  senteval/STS/STS1{2,3,4,5}-en-test/STS.gs.<set>.txt      gold similarity 0–5 per line (empty: unscored)
  senteval/SICK/SICK_{train,trial,test_annotated}.txt      pair_ID, sentence_A, sentence_B, relatedness_score, …
  senteval/{MR,CR,SUBJ,MPQA}/                              one sentence per line, one file per class
  senteval/TREC/{train_5500,TREC_10}.label                 "COARSE:fine question" per line

STS years follow the MTEB convention: every scored pair of the year's sets, concatenated (STS12: 3,108 pairs,
STS13: 1,500 — its licensed SMT input is absent, as in MTEB —, STS14: 3,750, STS15: 3,000); SICK-R is every
pair of the three SICK files (9,927), as MTEB's ``SICK-R`` is.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import BertdistilError

STS_YEARS = ("STS12", "STS13", "STS14", "STS15")
# class files of the single-sentence classification sets, label index = position (SentEval's order)
CLASS_FILES = {"MR": ("rt-polarity.neg", "rt-polarity.pos"), "CR": ("custrev.neg", "custrev.pos"),
               "SUBJ": ("subj.objective", "subj.subjective"), "MPQA": ("mpqa.neg", "mpqa.pos")}
TREC_CLASSES = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")


def senteval_dir(root: Path | None) -> Path | None:
    """``root/senteval`` when the data root has it, else None."""
    return root / "senteval" if root is not None and (root / "senteval").is_dir() else None


def _lines(path: Path, encoding: str = "utf-8") -> list[str]:
    if not path.is_file():
        raise BertdistilError(f"{path} is missing: lay out the data root's senteval/ as SentEval's "
                              "get_transfer_data.bash does (README: Benchmark data)")
    return path.read_text(encoding=encoding, errors="replace").splitlines()


def sts_pairs(folder: Path, name: str) -> list[tuple[str, str, float]]:
    """The scored pairs (a, b, gold 0–5) of STS year ``name`` (STS12…STS15), its sets in file-name order;
    a set without its input file (STS13's SMT) is left out. BertdistilError when the year's folder is missing
    or no set is complete."""
    year = folder / "STS" / f"{name}-en-test"
    pairs = []
    for gs in sorted(year.glob("STS.gs.*.txt")) if year.is_dir() else []:
        inp = gs.with_name(gs.name.replace("STS.gs.", "STS.input."))
        if gs.name == "STS.gs.ALL.txt" or not inp.is_file():
            continue
        scores, texts = _lines(gs), _lines(inp)
        if len(scores) != len(texts):
            raise BertdistilError(f"{gs} has {len(scores)} lines but {inp.name} has {len(texts)}: use SentEval's files")
        for score, text in zip(scores, texts):
            a, b = (text.split("\t") + [""])[:2]
            if score.strip():
                pairs.append((a, b, float(score)))
    if not pairs:
        raise BertdistilError(f"{year}: no STS.gs.*/STS.input.* pair of files: use SentEval's STS folders")
    return pairs


def sick_pairs(folder: Path) -> list[tuple[str, str, float]]:
    """Every (sentence_A, sentence_B, relatedness 1–5) of SICK's train, trial and test files (9,927 pairs)."""
    pairs = []
    for name in ("SICK_train.txt", "SICK_trial.txt", "SICK_test_annotated.txt"):
        for line in _lines(folder / "SICK" / name)[1:]:
            cells = line.split("\t")
            if len(cells) >= 4:
                pairs.append((cells[1], cells[2], float(cells[3])))
    return pairs


def class_sentences(folder: Path, name: str) -> list[tuple[str, int]]:
    """(sentence, label) of MR, CR, SUBJ or MPQA, every line of its class files (latin-1, as SentEval reads
    them); no split — probes on these sets are cross-validated."""
    out = []
    for label, file in enumerate(CLASS_FILES[name]):
        out += [(s.strip(), label) for s in _lines(folder / name / file, "latin-1") if s.strip()]
    return out


def trec_split(folder: Path, split: str) -> list[tuple[str, int]]:
    """(question, coarse label index into TREC_CLASSES) of TREC's ``train`` (5,452) or ``test`` (500) file."""
    file = {"train": "train_5500.label", "test": "TREC_10.label"}[split]
    out = []
    for line in _lines(folder / "TREC" / file, "latin-1"):
        if line.strip():
            label, _, rest = line.strip().partition(" ")
            out.append((rest, TREC_CLASSES.index(label.split(":")[0])))
    return out
