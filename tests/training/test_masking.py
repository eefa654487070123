"""Masking statistics on real text: 15% targets, 80/10/10, specials and padding never masked."""
import math

import numpy as np
import pytest
import torch

from bertdistil.config import MaskingConfig
from bertdistil.data.corpus import CorpusSpec, collate, prepare_corpus
from bertdistil.data.shipped import cache_dir, default_corpus
from bertdistil.training.masking import Masker, token_probabilities


@pytest.fixture(scope="module")
def batch(tokenizer):
    ds = prepare_corpus(default_corpus(), tokenizer, 64, cache_dir(), CorpusSpec(max_sequences=300))
    ids, att = collate(ds, np.arange(256), tokenizer.pad_token_id)
    return ds, ids, att


def test_mask_statistics(tokenizer, batch):
    ds, ids, att = batch
    specials = sorted(set(tokenizer.all_special_ids))
    masker = Masker(MaskingConfig(), ds.counts, specials, tokenizer.mask_token_id)
    g = torch.Generator().manual_seed(0)
    maskable = att.bool() & ~torch.isin(ids, torch.tensor(specials))
    n_mask = n_keep = n_rand = n_tgt = 0
    for _ in range(20):
        masked, labels = masker(ids, att, g)
        tgt = labels != -100
        assert not (tgt & ~maskable).any(), "a special or padding token became a target"
        assert torch.equal(masked[~tgt], ids[~tgt]), "non-targets must be unchanged"
        assert torch.equal(labels[tgt], ids[tgt])
        # the original distiller.py: ceil(mlm_mask_prop × non-pad tokens), [CLS]/[SEP] included
        assert tgt.sum() == math.ceil(0.15 * int(att.sum()))
        n_tgt += int(tgt.sum())
        n_mask += int((masked[tgt] == tokenizer.mask_token_id).sum())
        n_keep += int((masked[tgt] == ids[tgt]).sum())
        n_rand += int(((masked[tgt] != ids[tgt]) & (masked[tgt] != tokenizer.mask_token_id)).sum())
        assert not torch.isin(masked[tgt & (masked != ids) & (masked != tokenizer.mask_token_id)],
                              torch.tensor(specials)).any(), "random replacements must not be special tokens"
    assert n_mask / n_tgt == pytest.approx(0.8, abs=0.015)
    # a random draw can hit the original token (1 in ~30k): keep ≈ 0.1 + tiny
    assert n_keep / n_tgt == pytest.approx(0.1, abs=0.012)
    assert n_rand / n_tgt == pytest.approx(0.1, abs=0.012)


def test_smoothing_masks_rare_tokens_more_often(tokenizer, batch):
    ds, ids, att = batch
    specials = sorted(set(tokenizer.all_special_ids))
    w = token_probabilities(ds.counts, specials, 0.7)
    the, rare = tokenizer.convert_tokens_to_ids("the"), int(np.argmin(np.where(ds.counts > 0, ds.counts, 10**9)))
    assert w[rare] > w[the] * 10
    assert all(w[s] == 0 for s in specials)
    masker = Masker(MaskingConfig(), ds.counts, specials, tokenizer.mask_token_id)
    g = torch.Generator().manual_seed(1)
    hits = torch.zeros(2)
    for _ in range(30):
        _, labels = masker(ids, att, g)
        tgt = labels != -100
        hits[0] += (tgt & (ids == the)).sum() / max(int((ids == the).sum()), 1)
        others = att.bool() & (ids != the) & ~torch.isin(ids, torch.tensor(specials))
        hits[1] += (tgt & others).sum() / others.sum()
    assert hits[0] < hits[1], "frequent 'the' should be masked less often than the average token"


def test_uniform_when_smoothing_zero(tokenizer, batch):
    ds, ids, att = batch
    specials = sorted(set(tokenizer.all_special_ids))
    masker = Masker(MaskingConfig(mlm_smoothing=0.0), ds.counts, specials, tokenizer.mask_token_id)
    assert torch.unique(masker.weights[masker.weights > 0]).tolist() == [1.0]
