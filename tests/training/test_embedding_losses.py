"""Sentence-embedding distillation terms: pooling equal to sentence-transformers' own, the teacher's pooling
read from its folder, hand values, and a student that the terms train toward the teacher's embeddings."""
import json
import shutil

import pytest
import torch
from sentence_transformers.models import Pooling

from bertdistil.config import LossConfig
from bertdistil.models.loading import load_masked_lm
from bertdistil.models.sentence import sentence_pooling
from bertdistil.models.student import student_from_teacher
from bertdistil.pipeline.recipes import RECIPES
from bertdistil.training import losses
from bertdistil.training.objective import compute_losses


@pytest.mark.parametrize("mode", ["mean", "cls", "max"])
def test_pooling_equals_sentence_transformers(mode):
    torch.manual_seed(0)
    h = torch.randn(3, 7, 16)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    ours = losses.sentence_embedding(h, mask, mode)
    theirs = Pooling(16, pooling_mode=mode)({"token_embeddings": h, "attention_mask": mask})["sentence_embedding"]
    assert torch.allclose(ours, theirs, atol=1e-6)
    normed = losses.sentence_embedding(h, mask, mode + "+normalize")
    assert torch.allclose(normed.norm(dim=-1), torch.ones(3)) and torch.allclose(normed, ours / ours.norm(dim=-1,
                                                                                                          keepdim=True))
    with pytest.raises(ValueError, match="pooling must be"):
        losses.sentence_embedding(h, mask, "weighted")


def test_embedding_losses_hand_values():
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert losses.embedding_cosine_loss(s, t).item() == pytest.approx((0.0 + 1.0) / 2)
    assert losses.embedding_mse_loss(s, t).item() == pytest.approx((0 + 0 + 1 + 1) / 4)
    # on unit vectors the MSE is (2 / H)·(1 − cos): the same objective on another scale
    assert losses.embedding_mse_loss(s, t).item() == pytest.approx(2 / 2 * losses.embedding_cosine_loss(s, t).item())


def test_teacher_pooling_is_read_from_its_folder(shipped_teacher, tmp_path, tiny_bert_dir):
    assert sentence_pooling(shipped_teacher) == "mean+normalize"       # all-MiniLM-L6-v2: mean, then Normalize
    cls = tmp_path / "cls"
    shutil.copytree(shipped_teacher, cls)
    pooling = cls / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({**json.loads(pooling.read_text()), "pooling_mode_cls_token": True,
                                   "pooling_mode_mean_tokens": False}))
    modules = [m for m in json.loads((cls / "modules.json").read_text()) if not m["type"].endswith("Normalize")]
    (cls / "modules.json").write_text(json.dumps(modules))
    assert sentence_pooling(cls) == "cls"
    assert sentence_pooling(tiny_bert_dir) == "mean"                     # no modules.json: mean, as ST does


def test_embedding_terms_train_the_student_toward_the_teacher(shipped_teacher, tokenizer):
    torch.manual_seed(0)
    teacher, _ = load_masked_lm(shipped_teacher)
    teacher.eval()
    student, _ = student_from_teacher(teacher, None, True)
    texts = [f"Sentence {i}: the river runs past {i % 5} mills and under an old stone bridge." for i in range(8)]
    b = tokenizer(texts, padding=True, return_tensors="pt")
    ids, att = b["input_ids"], b["attention_mask"]
    labels = torch.full_like(ids, -100)
    cfg = RECIPES["emb_cos_only"].loss(LossConfig(pooling="mean+normalize"))
    assert cfg.needs_teacher and cfg.alpha_emb_cos == 1.0 and not cfg.alpha_ce and not cfg.alpha_mlm
    student.train()
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4)
    first = None
    for _ in range(8):
        opt.zero_grad()
        loss, terms = compute_losses(student, teacher, ids, att, labels, cfg)
        loss.backward()
        opt.step()
        first = terms["emb_cos"] if first is None else first
    assert set(terms) == {"emb_cos"} and terms["emb_cos"] < 0.5 * first
    both = LossConfig(alpha_ce=0.0, alpha_mlm=0.0, alpha_cos=0.0, alpha_emb_mse=1.0, alpha_emb_cos=1.0,
                      pooling="mean+normalize")
    with torch.no_grad():                            # the teacher as its own student: both terms vanish
        own = compute_losses(teacher, teacher, ids, att, labels, both)[1]
    assert own["emb_cos"] == pytest.approx(0.0, abs=1e-6) and own["emb_mse"] == pytest.approx(0.0, abs=1e-9)
