"""Layer map and weight copy: student layer k equals teacher layer map[k] bit for bit."""
import pytest
import torch
from transformers import AutoModelForMaskedLM, pipeline

from bertdistil.atomic import save_model_dir
from bertdistil.errors import BertdistilError
from bertdistil.models.loading import load_masked_lm, load_tokenizer
from bertdistil.models.student import (
    _BERT_TO_DISTILBERT,
    default_layer_map,
    prepare_tokenizer_for,
    student_from_teacher,
)


def test_default_layer_map():
    assert default_layer_map(12) == [0, 2, 4, 7, 9, 11]       # the released DistilBERT's choice
    assert default_layer_map(6) == [0, 2, 5]
    assert default_layer_map(24, 12)[0] == 0 and default_layer_map(24, 12)[-1] == 23
    with pytest.raises(BertdistilError):
        default_layer_map(6, 7)


def _check_copy(teacher, student, layer_map, fold=True):
    t, s = teacher.state_dict(), student.state_dict()
    for k, m in enumerate(layer_map):
        for src, dst in _BERT_TO_DISTILBERT.items():
            for w in ("weight", "bias"):
                assert torch.equal(s[f"distilbert.transformer.layer.{k}.{dst}.{w}"],
                                   t[f"bert.encoder.layer.{m}.{src}.{w}"])
    assert torch.equal(s["distilbert.embeddings.word_embeddings.weight"], t["bert.embeddings.word_embeddings.weight"])
    token_type = t["bert.embeddings.token_type_embeddings.weight"][0] if fold else 0
    pos = t["bert.embeddings.position_embeddings.weight"] + token_type
    assert torch.equal(s["distilbert.embeddings.position_embeddings.weight"], pos)
    assert torch.equal(s["vocab_transform.weight"], t["cls.predictions.transform.dense.weight"])
    assert torch.equal(s["vocab_projector.bias"], t["cls.predictions.bias"])
    assert not any("token_type" in k or "pooler" in k for k in s)


def test_weight_copy_from_shipped_teacher(shipped_teacher):
    teacher, missing = load_masked_lm(shipped_teacher)
    assert missing, "the shipped sentence-embedding teacher has no MLM head"
    student, lm = student_from_teacher(teacher)
    assert lm == [0, 2, 5] and student.config.n_layers == 3 and student.config.dim == 384
    _check_copy(teacher, student, lm)
    student2, lm2 = student_from_teacher(teacher, [1, 3, 5], fold_token_type=False)
    _check_copy(teacher, student2, lm2, fold=False)


def test_truncated_student_reproduces_teacher_layers(shipped_teacher, tokenizer):
    teacher, _ = load_masked_lm(shipped_teacher)
    student, lm = student_from_teacher(teacher, [0, 1, 2])
    teacher.eval(), student.eval()
    enc = tokenizer(["The capital of France is Paris."], return_tensors="pt")
    with torch.no_grad():
        ht = teacher.bert(**enc, output_hidden_states=True).hidden_states
        hs = student.distilbert(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                output_hidden_states=True).hidden_states
    for k in range(4):   # embeddings + 3 layers: identical computation up to float rounding
        assert torch.allclose(ht[k], hs[k], atol=1e-5)


def test_user_bert_dir_student_loads_with_auto_classes(tiny_bert_dir, tmp_path):
    teacher, missing = load_masked_lm(tiny_bert_dir)
    assert not missing
    student, lm = student_from_teacher(teacher)
    assert lm == [0, 3]
    _check_copy(teacher, student, lm)
    out = tmp_path / "student"
    save_model_dir(student, prepare_tokenizer_for(student, load_tokenizer(tiny_bert_dir)), out)
    loaded = AutoModelForMaskedLM.from_pretrained(out)
    assert type(loaded).__name__ == "DistilBertForMaskedLM"
    for k, v in student.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    preds = pipeline("fill-mask", model=str(out), tokenizer=str(out))("The capital of France is [MASK].")
    assert len(preds) == 5


def test_other_family_keeps_its_class(tokenizer):
    from transformers import RobertaConfig, RobertaForMaskedLM
    cfg = RobertaConfig(vocab_size=100, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=40)
    teacher = RobertaForMaskedLM(cfg)
    student, lm = student_from_teacher(teacher, [1, 3])
    assert type(student) is RobertaForMaskedLM and student.config.num_hidden_layers == 2
    t, s = teacher.state_dict(), student.state_dict()
    for k, m in enumerate(lm):
        for name, v in s.items():
            if f".layer.{k}." in name:
                assert torch.equal(v, t[name.replace(f".layer.{k}.", f".layer.{m}.")])
