"""CPU training fast paths: the dropout mask's statistics, models giving the same outputs as stock
transformers under cpu_kernels, and the bf16 teacher copy."""
import json

import pytest
import torch

from bertdistil.training.cpu_kernels import NAME, Dropout, inverted_dropout, keep_mask, use_cpu_kernels


@pytest.mark.parametrize("p", [0.1, 0.5, 0.0])
def test_keep_mask_drops_p_in_every_lane(p):
    torch.manual_seed(0)
    keep = keep_mask((1000, 401), p)                     # odd size: the last 64-bit draw is partly used
    assert keep.shape == (1000, 401) and keep.dtype == torch.bool
    drop = round(p * 65536) / 65536
    assert abs(1 - keep.float().mean().item() - drop) < 0.004
    lanes = keep.flatten()
    for i in range(4):                                   # the four 16-bit lanes of each draw are unbiased
        assert abs(1 - lanes[i::4].float().mean().item() - drop) < 0.008
    torch.manual_seed(0)
    assert torch.equal(keep_mask((1000, 401), p), keep)  # torch's generator: seeded runs repeat exactly
    if p:
        assert not torch.equal(keep_mask((1000, 401), p), keep)
    with pytest.raises(ValueError):
        keep_mask((4,), 1.0)


def test_inverted_dropout_scales_kept_and_masks_the_gradient():
    torch.manual_seed(1)
    x = torch.ones(200_000, requires_grad=True)
    y = inverted_dropout(x, 0.25)
    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.75))
    assert abs(y.mean().item() - 1.0) < 0.01            # expectation preserved
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())              # d(x·keep/(1−p))/dx = keep/(1−p)
    assert inverted_dropout(x, 0.25, training=False) is x and inverted_dropout(x, 0.0) is x


def _models(shipped_teacher, tiny_bert_dir):
    from bertdistil.models.loading import load_masked_lm
    from bertdistil.models.student import student_from_teacher
    teacher, _ = load_masked_lm(shipped_teacher)            # BERT (no MLM head: fresh one, irrelevant here)
    student, _ = student_from_teacher(teacher)                    # DistilBERT layout
    tiny, _ = load_masked_lm(tiny_bert_dir)                # a user's own BERT directory
    return {"teacher": teacher, "student": student, "tiny": tiny}


def test_models_match_stock_transformers_and_are_restored(shipped_teacher, tiny_bert_dir, tmp_path, tokenizer):
    from bertdistil.models.loading import encode
    torch.manual_seed(0)
    ids = torch.randint(1000, 20000, (3, 24))
    att = torch.ones_like(ids)
    att[1, 17:] = 0                                        # padding: the attention mask must be applied
    att[2, 4:] = 0
    for name, model in _models(shipped_teacher, tiny_bert_dir).items():
        model.eval()
        with torch.no_grad():
            ref = encode(model, ids, att)
            with use_cpu_kernels(model):
                assert model.config._attn_implementation == NAME
                assert all(type(m) is Dropout for m in model.modules() if isinstance(m, torch.nn.Dropout))
                new = encode(model, ids, att)
        torch.testing.assert_close(new[att.bool()], ref[att.bool()], atol=2e-5, rtol=1e-4, msg=name)
        assert model.config._attn_implementation == "sdpa"
        assert all(type(m) is torch.nn.Dropout for m in model.modules() if isinstance(m, torch.nn.Dropout))
    model.save_pretrained(tmp_path)                        # nothing of ours reaches a saved checkpoint
    assert NAME not in (tmp_path / "config.json").read_text()
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "bert"


def test_training_mode_applies_dropout_to_attention_and_hidden_states(shipped_teacher, tiny_bert_dir):
    from bertdistil.models.loading import encode
    student = _models(shipped_teacher, tiny_bert_dir)["student"]
    ids = torch.randint(1000, 20000, (2, 16))
    att = torch.ones_like(ids)
    with torch.no_grad(), use_cpu_kernels(student):
        student.eval()
        clean = encode(student, ids, att)
        student.train()
        outs = []
        for seed in (3, 3, 4):
            torch.manual_seed(seed)
            outs.append(encode(student, ids, att))
        for m in student.modules():                        # attention dropout alone still changes the output
            if isinstance(m, torch.nn.Dropout) and m is not student.distilbert.transformer.layer[0].attention.dropout:
                m.p = 0.0
        torch.manual_seed(3)
        attn_only = encode(student, ids, att)
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    assert not torch.allclose(outs[0], clean) and not torch.allclose(attn_only, clean)


def test_off_or_not_on_cpu_changes_nothing(tiny_bert_dir):
    from bertdistil.models.loading import load_masked_lm
    model, _ = load_masked_lm(tiny_bert_dir)
    with use_cpu_kernels(model, None, enabled=False):
        assert model.config._attn_implementation == "sdpa"
        assert all(type(m) is torch.nn.Dropout for m in model.modules() if isinstance(m, torch.nn.Dropout))
    with pytest.raises(RuntimeError), use_cpu_kernels(model):
        raise RuntimeError("interrupted")                  # restored even when the block fails
    assert model.config._attn_implementation == "sdpa"


def test_attention_dropout_is_unbiased_and_masks_padding():
    from bertdistil.training.cpu_kernels import attention
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 6, 4) for _ in range(3))
    mask = torch.ones(1, 1, 6, 6, dtype=torch.bool)
    mask[..., 4:] = False                                   # the last two keys are padding
    module = torch.nn.Module()
    module.eval()
    clean, _ = attention(module, q, k, v, mask, dropout=0.3)
    ref = torch.softmax((q @ k.transpose(-1, -2)) / 2 + torch.where(mask, 0.0, float("-inf")), -1) @ v
    torch.testing.assert_close(clean, ref.transpose(1, 2))
    module.train()
    mean = sum(attention(module, q, k, v, mask, dropout=0.3)[0] for _ in range(4000)) / 4000
    torch.testing.assert_close(mean, clean, atol=0.06, rtol=0)  # E[dropout(P)·V/(1−p)] = P·V
    v2 = v.clone()
    v2[:, :, 4:] = 1e4                                      # padded values never leak in
    torch.testing.assert_close(attention(module.eval(), q, k, v2, mask)[0], clean)


def test_bf16_teacher_copy_is_close_and_leaves_the_teacher_alone(shipped_teacher):
    import torch.nn.functional as F

    from bertdistil.models.loading import bf16_inference_copy, encode, head_logits, load_masked_lm
    teacher, _ = load_masked_lm(shipped_teacher)
    teacher.train()
    copy = bf16_inference_copy(teacher)
    assert not copy.training and all(p.dtype == torch.bfloat16 for p in copy.parameters())
    assert teacher.training and all(p.dtype == torch.float32 for p in teacher.parameters())
    teacher.eval()
    torch.manual_seed(0)
    ids = torch.randint(1000, 20000, (4, 32))
    att = torch.ones_like(ids)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        h32, h16 = encode(teacher, ids, att), encode(copy, ids, att)
        z32, z16 = head_logits(teacher, h32[:, 5]).float(), head_logits(copy, h16[:, 5]).float()
    assert h16.dtype == torch.bfloat16
    cos = F.cosine_similarity(h32.float(), h16.float(), dim=-1)
    assert cos.min() > 0.999
    kl = F.kl_div(F.log_softmax(z16 / 2, -1), F.log_softmax(z32 / 2, -1), reduction="batchmean", log_target=True)
    assert 4 * kl < 1e-2
