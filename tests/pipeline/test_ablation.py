"""`bertdistil ablate` at toy size: Table 4 rows on the same token budget, deltas against 'full'."""
import json

import pytest

from bertdistil.cli.parser import main
from bertdistil.config import load_preset
from bertdistil.errors import BertdistilError
from bertdistil.pipeline.ablate import row_recipe


def test_row_recipes_change_one_thing_each():
    cfg = load_preset("default")
    no_ce = row_recipe("no_ce", cfg, 6)[0]
    assert no_ce.alpha_ce == 0 and no_ce.alpha_mlm == cfg.loss.alpha_mlm
    assert row_recipe("no_cos", cfg, 6)[0].alpha_cos == 0 and row_recipe("no_mlm", cfg, 6)[0].alpha_mlm == 0
    assert row_recipe("random_init", cfg, 6) == (cfg.loss, None, True)
    assert row_recipe("first_half", cfg, 6)[1] == [0, 1, 2]
    assert row_recipe("ce_mask_swap", cfg, 6)[0].restrict_ce_to_mask is not cfg.loss.restrict_ce_to_mask
    with pytest.raises(BertdistilError, match="unknown ablation row"):
        row_recipe("no_everything", cfg, 6)


def test_ablate_smoke_writes_table4(tmp_path):
    out = tmp_path / "abl"
    assert main(["ablate", "--preset", "smoke", "--out", str(out), "--quiet", "--rows", "no_mlm", "random_init",
                 "--set", 'finetune.tasks=["SST-2"]', "--set", "finetune.max_train_examples=32"]) == 0
    res = json.loads((out / "results.json").read_text())["ablation"]
    assert list(res) == ["full", "no_mlm", "random_init"]
    assert len({r["tokens"] for r in res.values()}) == 1 and res["full"]["tokens"] > 0   # same budget
    assert res["full"]["delta"] == 0 and res["random_init"]["paper_delta"] == -3.69
    for r in res.values():
        assert r["delta"] == pytest.approx(r["glue_macro"] - res["full"]["glue_macro"])
        assert r["seed_macro"] == pytest.approx([r["glue_macro"]])       # one task, one seed: the same score
    assert "Table 4" in (out / "report.md").read_text()
