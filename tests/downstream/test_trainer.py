"""Fine-tuning on transformers' Trainer: DistillationTrainer's loss against the formulas, the documented example,
TensorBoard events in the run folder, no hand-written fine-tuning loop left."""
import ast
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, TrainingArguments

from bertdistil.config import FinetuneConfig
from bertdistil.data.tasks import builtin_tasks, heldout_split, load_examples
from bertdistil.downstream.finetune import train_classifier
from bertdistil.downstream.trainer import DistillationTrainer, FitOptions

ROOT = Path(__file__).parents[2]


def _classifier(path, num_labels):
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(
        str(path), num_labels=num_labels, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def _batch(tokenizer, n=4):
    enc = tokenizer([f"sentence number {i} about a river" for i in range(n)], padding=True, return_tensors="pt")
    return dict(enc)


@pytest.mark.parametrize("num_labels", [3, 1])
def test_distillation_loss_is_the_task_distillation_formula(num_labels, tiny_bert_dir, tokenizer, tmp_path):
    student = _classifier(tiny_bert_dir, num_labels)
    args = TrainingArguments(str(tmp_path), report_to="none", use_cpu=True)
    alpha, temp = 0.3, 2.0
    trainer = DistillationTrainer(model=student, args=args, alpha=alpha, temperature=temp)
    batch = _batch(tokenizer)
    gen = torch.Generator().manual_seed(1)
    t = torch.randn(4, num_labels, generator=gen)
    y = torch.tensor([0, 2, 1, 0]) if num_labels == 3 else torch.randn(4, generator=gen)
    student.train()
    loss = trainer.compute_loss(student, {**batch, "labels": y, "teacher_logits": t})
    with torch.no_grad():
        z = student(**batch).logits
    if num_labels == 1:
        expected = (1 - alpha) * F.mse_loss(z[:, 0], y) + alpha * F.mse_loss(z[:, 0], t[:, 0])
    else:
        p_t = F.softmax(t / temp, -1)
        kl = (p_t * (p_t.log() - F.log_softmax(z / temp, -1))).sum(-1).mean()
        expected = (1 - alpha) * F.cross_entropy(z, y) + alpha * temp ** 2 * kl
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    # a teacher model instead of precomputed outputs gives the same loss as its logits would
    teacher = _classifier(tiny_bert_dir, num_labels)
    with torch.no_grad():
        teacher_logits = teacher(**batch).logits
    by_model = DistillationTrainer(model=student, args=args, teacher=teacher, alpha=alpha, temperature=temp)
    assert float(by_model.compute_loss(student, {**batch, "labels": y})) == pytest.approx(
        float(trainer.compute_loss(student, {**batch, "labels": y, "teacher_logits": teacher_logits})), rel=1e-5)
    # evaluation: the plain task loss
    student.eval()
    plain = F.mse_loss(z[:, 0], y) if num_labels == 1 else F.cross_entropy(z, y)
    assert float(trainer.compute_loss(student, {**batch, "labels": y, "teacher_logits": t})) == pytest.approx(
        float(plain), rel=1e-5)


def test_distillation_trainer_refuses_bad_alpha_and_temperature(tiny_bert_dir, tmp_path):
    args = TrainingArguments(str(tmp_path), report_to="none", use_cpu=True)
    with pytest.raises(ValueError, match="alpha"):
        DistillationTrainer(model=_classifier(tiny_bert_dir, 2), args=args, alpha=1.5)
    with pytest.raises(ValueError, match="temperature"):
        DistillationTrainer(model=_classifier(tiny_bert_dir, 2), args=args, temperature=0)


def test_documented_example_runs_task_distillation_on_sst2(tiny_bert_dir, data_root, tmp_path, monkeypatch):
    """docs/finetuning.md's DistillationTrainer example, as written, with the paths of this machine."""
    doc = (ROOT / "docs" / "finetuning.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "DistillationTrainer(" in b)
    teacher = tmp_path / "teacher"
    _classifier(tiny_bert_dir, 2).save_pretrained(teacher)
    for old, new in [("data/glue", str(data_root / "glue")), ("runs/default/student", str(tiny_bert_dir)),
                     ("ft/sst2-teacher", str(teacher))]:
        assert old in code
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "docs/finetuning.md", "exec"), scope)
    trainer = scope["trainer"]
    assert trainer.state.global_step == 7 and trainer.teacher is not None          # 200 examples / 32 per batch
    assert list((tmp_path / "ft" / "sst2-student-d").rglob("events.out.tfevents.*"))


def test_finetune_writes_tensorboard_events_and_chooses_the_epoch(tiny_bert_dir, data_root, tmp_path):
    spec = builtin_tasks(data_root)["STS-B"]
    train, held = heldout_split(load_examples(spec, "train", 60), 0.25)
    fc = FinetuneConfig(epochs=2, batch_size=16, lr=3e-4, max_seq_len=32)
    opts = FitOptions(bf16=False, progress=False, log_dir=tmp_path / "tb")
    threads = torch.get_num_threads()
    res, _, _ = train_classifier(tiny_bert_dir, spec, train, load_examples(spec, "dev", 16), fc, opts,
                                 heldout_ex=held)
    assert torch.get_num_threads() == threads                           # Trainer leaves the process's threads
    assert len(res["heldout"]) == 2 and res["best_epoch"] in (1.0, 2.0) and res["steps"] == 6
    events = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert {"train/loss", "eval/pearson"} <= set(acc.Tags()["scalars"])


def _calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
            for n in ast.walk(tree) if isinstance(n, ast.Call)}


def test_no_hand_written_fine_tuning_loop():
    """Only the distillation loop steps an optimizer; fine-tuning goes through Trainer."""
    src = ROOT / "src" / "bertdistil"
    stepping = {str(p.relative_to(src)) for p in src.rglob("*.py")
                if {"optimizer_step", "make_optimizer", "get_linear_schedule_with_warmup"} & _calls(p)}
    assert stepping == {"training/loop.py"}
    backward = {str(p.relative_to(src)) for p in src.rglob("*.py") if "backward" in _calls(p)}
    assert backward == {"training/loop.py", "deploy/compress.py"}      # compress: gradients for pruning importance
