"""Shared fixtures: a per-session cache, the benchmark data root, the shipped tokenizer, tiny user-style
BERT directories.

The data root is $BERTDISTIL_DATA when set (the Makefile sets it), else ../shared/data beside the
repository when it exists; tests that need benchmark files use the ``data_root`` fixture and are skipped,
with the reason printed, when there is none.
"""
import os
from pathlib import Path

import pytest

os.environ.setdefault("BERTDISTIL_CACHE", "")  # replaced per session below
_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "BERTDISTIL_DATA" not in os.environ and _SHARED.is_dir():     # make test DATA= runs without
    os.environ["BERTDISTIL_DATA"] = str(_SHARED)


@pytest.fixture(scope="session")
def data_root():
    """The benchmark data root (GLUE, IMDb, SQuAD, WikiText-2); the test is skipped without one."""
    root = os.environ.get("BERTDISTIL_DATA")
    if not root or not Path(root).is_dir():
        pytest.skip("no benchmark data root: set BERTDISTIL_DATA or place ../shared/data beside the repository")
    return Path(root)


@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory):
    os.environ["BERTDISTIL_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield


@pytest.fixture(scope="session")
def shipped_teacher():
    from bertdistil.data.shipped import default_teacher
    return default_teacher()


@pytest.fixture(scope="session")
def tokenizer(shipped_teacher):
    from bertdistil.models.loading import load_tokenizer
    return load_tokenizer(shipped_teacher)


def _tiny_bert(path, tokenizer, with_head=True, layers=4):
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertModel
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    model = BertForMaskedLM(cfg) if with_head else BertModel(cfg)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, tokenizer):
    """A user's own BERT directory: randomly initialised BertForMaskedLM (4 layers, hidden 32) + tokenizer."""
    return _tiny_bert(tmp_path_factory.mktemp("tiny_bert"), tokenizer)


@pytest.fixture(scope="session")
def tiny_bert_no_head_dir(tmp_path_factory, tokenizer):
    """A head-less BertModel directory (like a sentence-embedding model)."""
    return _tiny_bert(tmp_path_factory.mktemp("tiny_bert_nohead"), tokenizer, with_head=False)


def _tiny_mpnet(path, shipped_teacher, with_head=False, layers=4):
    """A randomly initialised MPNet of all-mpnet-base-v2's layout at toy width, with an MPNet tokenizer whose
    vocabulary is built as MPNet's is: <s> <pad> </s> <unk>, BERT's uncased WordPiece vocabulary, then <mask>."""
    import torch
    from transformers import MPNetConfig, MPNetForMaskedLM, MPNetModel, MPNetTokenizerFast
    words = (shipped_teacher / "vocab.txt").read_text(encoding="utf-8").splitlines()
    vocab = {w: i for i, w in enumerate(["<s>", "<pad>", "</s>", "<unk>", *words, "<mask>"])}
    tok = MPNetTokenizerFast(vocab=vocab, do_lower_case=True, unk_token="[UNK]")
    torch.manual_seed(0)
    cfg = MPNetConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=130, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    (MPNetForMaskedLM(cfg) if with_head else MPNetModel(cfg, add_pooling_layer=True)).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_mpnet_dir(tmp_path_factory, shipped_teacher):
    """A head-less MPNet directory like all-mpnet-base-v2 (relative attention bias, <s>/</s> specials), 4 layers
    of width 32, vocabulary 30,527."""
    return _tiny_mpnet(tmp_path_factory.mktemp("tiny_mpnet"), shipped_teacher)


@pytest.fixture
def reproduce_smoke(tmp_path):
    """``run(*extra)``: ``bertdistil reproduce --preset smoke --quiet`` into TMP/out with extra arguments;
    returns (out folder, results.json as a dict)."""
    import json

    from bertdistil.cli import main

    def run(*extra):
        out = tmp_path / "out"
        assert main(["reproduce", "--preset", "smoke", "--out", str(out), "--quiet", *extra]) == 0
        return out, json.loads((out / "results.json").read_text())
    return run
