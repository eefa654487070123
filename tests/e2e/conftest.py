"""Fixtures of the reliability-probe tests: a user's task files and a classifier fine-tuned on them."""
import os

import pytest
from probe_util import WORDS

from bertdistil.cli.parser import main


@pytest.fixture(scope="session")
def ut(tmp_path_factory):
    """SST-2-style TSVs (sentence<TAB>label): train 80 rows, dev 40, a test file without labels, one-class files."""
    d = tmp_path_factory.mktemp("ut")

    def tsv(name, n, labels=(0, 1), header="sentence\tlabel"):
        rows = [f"a {WORDS[i % 6]} film, number {i}\t{labels[i % len(labels)]}" for i in range(n)]
        (d / name).write_text(header + "\n" + "\n".join(rows) + "\n")
    tsv("train.tsv", 80)
    tsv("dev.tsv", 40)
    tsv("train_oneclass.tsv", 80, labels=(1,))
    tsv("dev_oneclass.tsv", 40, labels=(1,))
    (d / "test.tsv").write_text("index\tsentence\n" + "".join(f"{i}\ta film {i}\n" for i in range(5)))
    return d


@pytest.fixture(scope="session")
def ft(ut, tiny_bert_dir, tmp_path_factory):
    """A classifier fine-tuned with relative --train/--dev paths (from the data folder), as a user does."""
    out = tmp_path_factory.mktemp("ft") / "ft_mine"
    cwd = os.getcwd()
    os.chdir(ut)
    try:
        assert main(["finetune", "--preset", "smoke", "--quiet", "--model", str(tiny_bert_dir), "--task", "mine",
                     "--train", "train.tsv", "--dev", "dev.tsv", "--out", str(out)]) == 0
    finally:
        os.chdir(cwd)
    return out
