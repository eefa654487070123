"""The hidden-state recipes beyond the paper (PKD, TinyBERT, MiniLM): hand values, the relations against the
model's own attention, and the objective with every term on the shipped teacher and its student."""
import math

import pytest
import torch

from bertdistil.config import LossConfig
from bertdistil.models.loading import encode_all, load_masked_lm, relation_scores
from bertdistil.models.student import student_from_teacher
from bertdistil.training import losses
from bertdistil.training.objective import compute_losses


def test_uniform_layer_map():
    assert losses.uniform_layer_map(3, 6) == [0, 2, 4, 6]
    assert losses.uniform_layer_map(6, 12) == [0, 2, 4, 6, 8, 10, 12]
    with pytest.raises(ValueError, match="multiple"):
        losses.uniform_layer_map(4, 6)


def test_layers_mse_sums_per_layer_means():
    s = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0], [2.0, 2.0]])]
    t = [torch.tensor([[0.0, 0.0]]), torch.tensor([[0.0, 1.0], [2.0, 0.0]])]
    assert losses.layers_mse_loss(s, t).item() == pytest.approx(1 / 2 + (1 + 4) / 4)


def test_pkd_normalises_cls_states():
    s = [torch.tensor([[3.0, 0.0], [0.0, 2.0]])]          # unit vectors (1, 0) and (0, 1)
    t = [torch.tensor([[0.0, 5.0], [0.0, 0.5]])]          # unit vectors (0, 1) and (0, 1)
    assert losses.pkd_loss(s, t).item() == pytest.approx((2.0 + 0.0) / 2)
    assert losses.pkd_loss([s[0] * 7], [s[0]]).item() == pytest.approx(0.0, abs=1e-7)   # scale-free


def test_relation_kl_hand_value_skips_padding():
    # one sequence, one head, 3 positions of which the last is padding
    s = torch.tensor([[[[0.0, 0.0, 9.0], [1.0, 0.0, -9.0], [5.0, 5.0, 5.0]]]])
    t = torch.tensor([[[[math.log(3.0), 0.0, 0.0], [1.0, 0.0, 4.0], [0.0, 0.0, 0.0]]]])
    mask = torch.tensor([[1, 1, 0]])

    def kl(pt, ps):
        return sum(p * math.log(p / q) for p, q in zip(pt, ps))
    row0 = kl([0.75, 0.25], [0.5, 0.5])                 # key 3 masked in both
    row1 = kl([math.e / (math.e + 1), 1 / (math.e + 1)], [math.e / (math.e + 1), 1 / (math.e + 1)])
    assert losses.relation_kl_loss(s, t, mask).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    with pytest.raises(ValueError, match="head count"):
        losses.relation_kl_loss(s, t[:, :, :2, :2], mask)


@pytest.fixture(scope="module")
def teacher_student(shipped_teacher):
    torch.manual_seed(0)
    teacher, _ = load_masked_lm(shipped_teacher)
    student, _ = student_from_teacher(teacher.eval(), None, True)
    return teacher, student


def _batch(tokenizer):
    b = tokenizer(["The capital of France is Paris.", "A much longer sentence about the weather in the hills "
                   "of northern Scotland in November."], padding=True, return_tensors="pt")
    return b["input_ids"], b["attention_mask"]


def test_relation_scores_reproduce_the_models_attention(teacher_student, tokenizer):
    """softmax of the recomputed Q·Kᵀ/√d equals the attention probabilities eager BERT returns."""
    teacher, _ = teacher_student
    ids, att = _batch(tokenizer)
    teacher.set_attn_implementation("eager")
    with torch.no_grad():
        out = teacher.base_model(input_ids=ids, attention_mask=att, output_attentions=True,
                                 output_hidden_states=True)
        attn, vr = relation_scores(teacher, out.hidden_states[-2])
    teacher.set_attn_implementation("sdpa")
    keys = att.bool()[:, None, None, :]
    probs = torch.softmax(attn.masked_fill(~keys, -1e9), -1)
    rows = att.bool()[:, None, :, None]
    assert torch.allclose((probs * rows), (out.attentions[-1] * rows), atol=1e-5)
    assert vr.shape == attn.shape and torch.allclose(vr, vr.transpose(-1, -2), atol=1e-5)   # V·Vᵀ is symmetric


def test_every_term_trains_the_student_and_the_original_teacher_is_used(teacher_student, tokenizer):
    teacher, student = teacher_student
    ids, att = _batch(tokenizer)
    labels = torch.full_like(ids, -100)
    cfg = LossConfig(alpha_ce=0.0, alpha_mlm=0.0, alpha_cos=0.0, alpha_layers_mse=1.0, alpha_pkd=1.0,
                     alpha_attn=1.0, alpha_value_rel=1.0)
    student.train()
    student.zero_grad()
    loss, terms = compute_losses(student, teacher, ids, att, labels, cfg)
    loss.backward()
    assert set(terms) == {"layers_mse", "pkd", "attn", "value_rel"} and all(v > 0 for v in terms.values())
    assert loss.item() == pytest.approx(sum(terms.values()), rel=1e-5)
    q = student.distilbert.transformer.layer[0].attention.q_lin.weight.grad
    assert q is not None and q.abs().sum() > 0       # the relation terms reach the student's first layer
    student.eval()                                   # the student as its own hidden-state teacher: all zero
    with torch.no_grad():
        own = compute_losses(student, teacher, ids, att, labels, cfg, hidden_teacher=student)[1]
    assert all(v == pytest.approx(0.0, abs=1e-5) for v in own.values()), own
    assert len(encode_all(student, ids, att)) == 4     # embeddings + 3 layers
