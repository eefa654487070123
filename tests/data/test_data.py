"""Corpus → memmap preparation, bad inputs, and the length-grouped, resumable batch order."""
import gzip

import numpy as np
import pytest

from bertdistil.data.corpus import CorpusSpec, LengthGroupedBatches, collate, prepare_corpus, token_dtype
from bertdistil.data.shipped import cache_dir, default_corpus
from bertdistil.errors import BertdistilError


def test_prepare_shipped_corpus_slice(tokenizer):
    ds = prepare_corpus(default_corpus(), tokenizer, 64, cache_dir(), CorpusSpec(max_sequences=200))
    assert len(ds) == 200 and ds.ids.dtype == np.uint16
    for i in range(len(ds)):
        seq = ds[i]
        assert seq[0] == tokenizer.cls_token_id and seq[-1] == tokenizer.sep_token_id
        assert 3 <= len(seq) <= 64
        assert tokenizer.cls_token_id not in seq[1:-1]
    assert ds.counts.sum() >= ds.n_tokens  # the counts cover every prepared token
    again = prepare_corpus(default_corpus(), tokenizer, 64, cache_dir(), CorpusSpec(max_sequences=200))
    assert again.folder == ds.folder  # cached


def test_packing_keeps_text_and_file_boundaries(tokenizer, tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("Hello world.\n\nSecond paragraph here.\n\n" + "word " * 100)
    b = tmp_path / "b.txt.gz"
    with gzip.open(b, "wt") as f:
        f.write("Caf\u00e9 in another file.\n")
    c = tmp_path / "c.txt"
    c.write_bytes(b"A Latin-1 line: caf\xe9.\n")   # stray non-UTF-8 line, read as Latin-1
    ds = prepare_corpus([str(a), str(tmp_path / "b*.gz"), str(c)], tokenizer, 32, tmp_path / "cache")
    decoded = [tokenizer.decode(ds[i][1:-1]) for i in range(len(ds))]
    assert decoded[0] == "hello world. second paragraph here."
    assert all(len(ds[i]) <= 32 for i in range(len(ds)))
    assert decoded[-2] == "cafe in another file."   # never packed with a.txt's words
    assert decoded[-1] == "a latin - 1 line : cafe."
    assert sum(d.count("word") for d in decoded) == 100


@pytest.mark.parametrize("content,needle", [(b"", "contains no text"), (b"\n\n  \n", "contains no text"),
                                            (b"\x00\x01\x02binary", "binary data"),
                                            (bytes(range(128, 256)) * 400 + b"\n" * 200, "not UTF-8")])
def test_bad_corpus_errors_name_file(tokenizer, tmp_path, content, needle):
    f = tmp_path / "bad.txt"
    if needle == "not UTF-8":
        f.write_bytes(b"\xff\xfe bad\n" * 300)
    else:
        f.write_bytes(content)
    with pytest.raises(BertdistilError, match=needle) as e:
        prepare_corpus([str(f)], tokenizer, 32, tmp_path / "cache")
    assert "bad.txt" in str(e.value)


def test_missing_corpus_and_dtype_errors(tokenizer, tmp_path):
    with pytest.raises(BertdistilError, match="not found"):
        prepare_corpus([str(tmp_path / "nope.txt")], tokenizer, 32, tmp_path)
    with pytest.raises(BertdistilError, match="uint32"):
        token_dtype(250_002, "uint16")
    assert token_dtype(250_002) == np.uint32 and token_dtype(30_522) == np.uint16


def test_length_grouped_batches_cover_epoch_and_resume():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 128, size=1000)
    s = LengthGroupedBatches(lengths, 16, seed=3)
    seen = np.concatenate([s.next() for _ in range(len(s))])
    assert sorted(seen.tolist()) == list(range(1000))
    # grouped batches are much tighter than random ones
    grouped = LengthGroupedBatches(lengths, 16, seed=3)
    plain = LengthGroupedBatches(lengths, 16, seed=3, group_by_size=False)
    pad = lambda smp: sum(lengths[b].max() * len(b) - lengths[b].sum() for b in (smp.next() for _ in range(len(smp))))
    assert pad(grouped) < 0.3 * pad(plain)
    a = LengthGroupedBatches(lengths, 16, seed=3)
    for _ in range(70):
        a.next()
    state = a.state()
    b = LengthGroupedBatches(lengths, 16, seed=3)
    b.load_state(state)
    for _ in range(20):
        assert np.array_equal(a.next(), b.next())


def test_collate_pads(tokenizer):
    ds = prepare_corpus(default_corpus(), tokenizer, 64, cache_dir(), CorpusSpec(max_sequences=200))
    idx = np.array([0, 1, 2])
    ids, att = collate(ds, idx, tokenizer.pad_token_id)
    assert ids.shape[1] == max(len(ds[i]) for i in idx)
    assert int(att.sum()) == sum(len(ds[i]) for i in idx)
    assert (ids[att == 0] == tokenizer.pad_token_id).all()


def test_heldout_split_partitions_documents_and_never_trains_on_them(tokenizer, tmp_path):
    from bertdistil.data.documents import documents, heldout_documents, is_heldout
    f = tmp_path / "c.txt"
    f.write_text("\n\n".join(f"Document {i} about topic {i % 7}: some words follow here." for i in range(600)))
    train = prepare_corpus([str(f)], tokenizer, 64, tmp_path / "cache", CorpusSpec(part="train", heldout_every=10))
    held = prepare_corpus([str(f)], tokenizer, 64, tmp_path / "cache", CorpusSpec(part="heldout", heldout_every=10))
    whole = prepare_corpus([str(f)], tokenizer, 64, tmp_path / "cache")
    assert train.meta["documents"] + held.meta["documents"] == whole.meta["documents"] == 600
    assert 30 <= held.meta["documents"] <= 90                       # about 1 in 10
    held_text = {tokenizer.decode(held[i][1:-1]) for i in range(len(held))}
    train_text = " ".join(tokenizer.decode(train[i][1:-1]) for i in range(len(train)))
    docs = list(documents(f))
    out = [d for d in docs if is_heldout(d, 10)]
    assert len(out) == held.meta["documents"] and heldout_documents([str(f)], 10, 5) == out[:5]
    norm = lambda d: tokenizer.decode(tokenizer(d, add_special_tokens=False)["input_ids"])   # noqa: E731
    assert all(norm(d) not in train_text for d in out)              # no held-out document was trained on
    assert all(norm(d) in train_text for d in docs[:50] if d not in out)   # ... while the others were
    assert held_text and all(is_heldout(d, 10) == is_heldout(d, 10) for d in docs)
    assert not any(is_heldout(d, 0) for d in docs)
