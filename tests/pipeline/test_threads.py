"""The Python API as a notebook sees it: listed by dir(), documented, and leaving the process's torch thread
count as it found it unless ``threads`` asks."""
import torch

import bertdistil
from bertdistil.config import load_preset


def test_api_calls_change_the_thread_count_only_when_asked():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        bertdistil.prepare_corpus(load_preset("smoke"), progress=False)
        assert torch.get_num_threads() == 1
        bertdistil.prepare_corpus(load_preset("smoke", ["threads=2"]), progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_dir_lists_the_documented_api():
    """Tab completion in a notebook shows every API function, each with its docstring."""
    names = dir(bertdistil)
    assert {"zero_shot", "sentence_eval", "bench", "compress", "export", "finetune", "distill"} <= set(bertdistil.API)
    for name in bertdistil.API:
        assert name in names and len((getattr(bertdistil, name).__doc__ or "").split()) >= 10, name
