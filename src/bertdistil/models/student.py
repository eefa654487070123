"""Student initialisation from the teacher (Sanh et al. 2019 §3 "Student initialization").

Same width, fewer layers; student layer k is a copy of teacher layer ``layer_map[k]``. For a BERT
teacher the student is a ``DistilBertForMaskedLM`` (token-type embeddings and pooler removed, as
in the original ``extract_distilbert.py``); any other family keeps its own class with fewer layers.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from transformers import DistilBertConfig, DistilBertForMaskedLM, PreTrainedModel

from ..atomic import save_model_dir
from ..errors import BertdistilError
from .loading import n_layers
from .sentence import copy_sentence_config


def default_layer_map(n_teacher: int, n_student: int | None = None) -> list[int]:
    """Teacher layers to copy: ``n_student`` (default n_teacher // 2) indices spread uniformly from the
    first to the last layer, round(linspace(0, n_teacher-1, n_student)). For 12 → 6 this is
    [0, 2, 4, 7, 9, 11], the map of the released DistilBERT; for 6 → 3 it is [0, 2, 5]."""
    k = n_student or max(1, n_teacher // 2)
    if not 1 <= k <= n_teacher:
        raise BertdistilError(f"student of {k} layers from a {n_teacher}-layer teacher is impossible: "
                              f"choose 1..{n_teacher}")
    if k == 1:
        return [n_teacher - 1]
    return [int(x) for x in np.round(np.linspace(0, n_teacher - 1, k))]


def check_layer_map(layer_map: list[int], n_teacher: int) -> list[int]:
    """``layer_map`` as ints; BertdistilError unless it lists 1 to ``n_teacher`` teacher layer indices."""
    lm = [int(x) for x in layer_map]
    if not lm or any(not 0 <= x < n_teacher for x in lm):
        raise BertdistilError(f"layer_map {layer_map} must be teacher layer indices in 0..{n_teacher - 1}")
    if len(lm) > n_teacher:
        raise BertdistilError(f"layer_map {layer_map} has {len(lm)} entries but the teacher has {n_teacher} layers: "
                              f"a student has at most as many layers as its teacher (one index per student layer)")
    return lm


_BERT_TO_DISTILBERT = {
    "attention.self.query": "attention.q_lin", "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin", "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm", "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2", "output.LayerNorm": "output_layer_norm",
}


def _distilbert_from_bert(teacher: PreTrainedModel, layer_map: list[int], fold_token_type: bool) -> PreTrainedModel:
    tc = teacher.config
    if tc.hidden_act not in ("gelu", "relu"):
        raise BertdistilError(f"teacher activation {tc.hidden_act} has no DistilBERT equivalent (gelu or relu)")
    cfg = DistilBertConfig(
        vocab_size=tc.vocab_size, max_position_embeddings=tc.max_position_embeddings, dim=tc.hidden_size,
        n_layers=len(layer_map), n_heads=tc.num_attention_heads, hidden_dim=tc.intermediate_size,
        dropout=tc.hidden_dropout_prob, attention_dropout=tc.attention_probs_dropout_prob, activation=tc.hidden_act,
        initializer_range=tc.initializer_range, pad_token_id=tc.pad_token_id, tie_word_embeddings=True)
    student = DistilBertForMaskedLM(cfg)
    t = teacher.state_dict()
    s: dict[str, torch.Tensor] = {}
    emb = "bert.embeddings."
    s["distilbert.embeddings.word_embeddings.weight"] = t[emb + "word_embeddings.weight"]
    pos = t[emb + "position_embeddings.weight"].clone()
    if fold_token_type and emb + "token_type_embeddings.weight" in t:
        # BERT adds token_type_embeddings[0] to every single-segment input: folding it into the
        # position table keeps the student's embeddings identical to the teacher's for such inputs.
        pos += t[emb + "token_type_embeddings.weight"][0]
    s["distilbert.embeddings.position_embeddings.weight"] = pos
    for w in ("weight", "bias"):
        s[f"distilbert.embeddings.LayerNorm.{w}"] = t[emb + f"LayerNorm.{w}"]
    for k, m in enumerate(layer_map):
        for src, dst in _BERT_TO_DISTILBERT.items():
            for w in ("weight", "bias"):
                s[f"distilbert.transformer.layer.{k}.{dst}.{w}"] = t[f"bert.encoder.layer.{m}.{src}.{w}"]
    head = "cls.predictions."
    for w in ("weight", "bias"):
        s[f"vocab_transform.{w}"] = t[head + f"transform.dense.{w}"]
        s[f"vocab_layer_norm.{w}"] = t[head + f"transform.LayerNorm.{w}"]
    s["vocab_projector.weight"] = t[emb + "word_embeddings.weight"]
    s["vocab_projector.bias"] = t.get(head + "bias", t.get(head + "decoder.bias"))
    missing, unexpected = student.load_state_dict({k: v.clone() for k, v in s.items()}, strict=False)
    missing = [k for k in missing if k != "vocab_projector.weight"]   # tied to the word embeddings
    if missing or unexpected:
        raise BertdistilError(f"BERT → DistilBERT weight copy incomplete: missing {missing}, unexpected {unexpected}")
    return student


_LAYER = re.compile(r"^(.*?\.layers?\.)(\d+)(\..*)$")


def _same_family(teacher: PreTrainedModel, layer_map: list[int]) -> PreTrainedModel:
    cfg = teacher.config.__class__.from_dict(teacher.config.to_dict())
    attr = "num_hidden_layers" if hasattr(cfg, "num_hidden_layers") else "n_layers"
    setattr(cfg, attr, len(layer_map))
    student = type(teacher)(cfg)
    t = teacher.state_dict()
    new: dict[str, torch.Tensor] = {}
    for key, value in t.items():
        match = _LAYER.match(key)
        if match:
            m = int(match.group(2))
            for k, src in enumerate(layer_map):
                if src == m:
                    new[f"{match.group(1)}{k}{match.group(3)}"] = value.clone()
        else:
            new[key] = value.clone()
    student.load_state_dict(new, strict=False)
    return student


def resolve_layer_map(n_teacher: int, configured: list[int] | None) -> list[int]:
    """The configured map, checked, or ``default_layer_map(n_teacher)`` when none is configured."""
    return check_layer_map(configured, n_teacher) if configured is not None else default_layer_map(n_teacher)


def student_from_teacher(teacher: PreTrainedModel, layer_map: list[int] | None = None, fold_token_type: bool = True,
                  random_init: bool = False) -> tuple[PreTrainedModel, list[int]]:
    """Build the student from a *ForMaskedLM teacher. Returns (student, layer_map).

    ``random_init=True`` keeps the architecture but re-initialises every weight (the paper's
    "random initialisation" ablation). Raises BertdistilError for an invalid layer map.
    """
    layer_map = resolve_layer_map(n_layers(teacher.config), layer_map)
    if teacher.config.model_type == "bert":
        student = _distilbert_from_bert(teacher, layer_map, fold_token_type)
    else:
        student = _same_family(teacher, layer_map)
    if random_init:
        student = type(student)(student.config)
    return student, layer_map


def prepare_tokenizer_for(student: PreTrainedModel, tokenizer):
    """DistilBERT takes no token_type_ids: make the saved tokenizer stop producing them so
    ``pipeline('fill-mask')`` and plain ``model(**tokenizer(text))`` work unchanged."""
    if student.config.model_type == "distilbert":
        tokenizer.model_input_names = ["input_ids", "attention_mask"]
    return tokenizer


def init_student_dir(teacher: PreTrainedModel, teacher_dir: Path, tokenizer, out: Path,
                     layer_map: list[int] | None = None, fold_token_type: bool = True,
                     random_init: bool = False) -> PreTrainedModel | None:
    """The student init folder ``out`` of a run: the student of ``teacher`` (``student_from_teacher``) saved
    with the teacher's ``tokenizer`` unless ``out`` already holds one (a resumed run keeps it), and the
    sentence-transformers files of ``teacher_dir`` copied beside it. Returns the student when it was built
    now, else None. BertdistilError for an invalid layer map."""
    student = None
    if not (Path(out) / "config.json").is_file():
        student, _ = student_from_teacher(teacher, layer_map, fold_token_type, random_init=random_init)
        save_model_dir(student, prepare_tokenizer_for(student, tokenizer), Path(out))
    copy_sentence_config(teacher_dir, Path(out))
    return student
