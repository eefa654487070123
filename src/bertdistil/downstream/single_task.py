"""``bertdistil finetune / evaluate / predict``: one model, one task, from the command line."""
from __future__ import annotations

import json
from pathlib import Path

from ..atomic import save_model_dir, write_json
from ..data.benchmark_root import resolve_data_root
from ..data.documents import is_arrow_source
from ..data.rows import rows
from ..data.tasks import load_examples, load_split, task_examples
from ..data.user_task import resolve_task, save_task
from ..errors import BertdistilError
from ..models.cards import finetuned_card
from ..models.loading import check_model_dir, load_classifier, resolve_device
from ..models.modelcard import teacher_id
from ..runfolder.ownership import writing
from .finetune import encode, finetune, predict_outputs, score, to_predictions


def finetune_command(args, cfg) -> int:
    """``bertdistil finetune``: prints and writes OUT/eval_results.json (see ``finetune_model``)."""
    res = finetune_model(Path(args.model), args.task, Path(args.out), cfg, seed=args.seed, train=args.train,
                         dev=args.dev, regression=args.regression, teacher_model=args.teacher_model,
                         progress=not args.quiet, force=args.force,
                         caps=(args.max_train_examples, args.max_eval_examples))
    print(json.dumps({"out": str(args.out), **res}, indent=1))
    return 0


def finetune_model(model_dir: Path, task: str, out: Path, cfg, seed: int = 1, train: str | None = None,
                   dev: str | None = None, regression: bool = False, teacher_model: str | Path | None = None,
                   progress: bool = True, force: bool = False, caps: tuple[int, int] = (0, 0)) -> dict:
    """Fine-tune ``model_dir`` on a task and save it to ``out`` with its label names, task record and
    eval_results.json; returns {task, dev metrics (percent), train_examples, dev_examples, …}. The whole train
    and dev splits are used unless ``caps`` = (max train, max dev examples; 0 = all) asks for seeded samples;
    what was used is printed to stderr (the preset's ``finetune`` caps are ``reproduce``'s protocol, not
    applied here).
    ``teacher_model`` (a fine-tuned classifier) adds the task-distillation loss. ``out`` is locked while this
    runs and may only be new, empty or an earlier ``finetune`` output (``force``: replace any folder).
    BertdistilError without a finetune section, for a refused ``out`` or an unusable input."""
    fc = cfg.finetune
    if fc is None:
        raise BertdistilError(f"preset {cfg.preset} has no 'finetune' section: use --preset default or smoke")
    model_dir, device = check_model_dir(model_dir), resolve_device(cfg.device)
    with writing(out, "model", force=force, inputs={"--model": model_dir, "--teacher-model": teacher_model}):
        spec = resolve_task(task, train, dev, regression, resolve_data_root(cfg.data_dir))
        train_ex, dev_ex = task_examples(spec, caps)
        t_out = None
        if teacher_model:
            teacher, t_tok = load_classifier(check_model_dir(teacher_model, "teacher model"), device)
            t_out = predict_outputs(teacher, t_tok, encode(t_tok, train_ex, fc.max_seq_len), bf16=cfg.bf16)
        res, model, tok = finetune(model_dir, spec, train_ex, dev_ex, fc, seed, cfg.bf16, t_out, progress, device)
        model.config.finetuning_task = spec.name
        save_model_dir(model.cpu(), tok, out)
        save_task(spec, out)
        res = {"task": spec.name, **res}
        write_json(res, out / "eval_results.json")
        finetuned_card(out, spec, res, model_dir, task_teacher=teacher_id(teacher_model) if teacher_model else None)
    return res


def _max_len(cfg) -> int:
    """Tokens per example at inference: the fine-tuning protocol's max_seq_len (that of FinetuneConfig's default
    when the preset has no finetune section)."""
    from ..config import FinetuneConfig
    return (cfg.finetune or FinetuneConfig()).max_seq_len




def evaluate_command(args, cfg) -> int:
    """Score a fine-tuned model on its task's dev split (or ``--dev FILE``); prints the metrics."""
    model, tok = load_classifier(args.model, resolve_device(cfg.device))      # refuses an untrained head first
    spec = resolve_task(args.task, root=resolve_data_root(cfg.data_dir), model_dir=args.model)
    if args.dev:
        ex = load_split(spec, [Path(args.dev)])
    else:
        ex = load_examples(spec, "dev")
    print(json.dumps({"task": spec.name, "examples": len(ex),
                      **score(model, tok, spec, ex, _max_len(cfg), bf16=cfg.bf16)}, indent=1))
    return 0


def predict_command(args, cfg) -> int:
    """``bertdistil predict``: GLUE-submission rows for --input with a fine-tuned --model → --output."""
    n = predict_file(args.model, args.task, args.input, args.output, _max_len(cfg), resolve_device(cfg.device),
                     cfg.bf16)
    print(json.dumps({"output": args.output, "rows": n}))
    return 0


def predict_file(model: str, task: str | None, input_file: str, output_file: str, max_len: int = 128,
                 device="cpu", bf16: bool = True) -> int:
    """Write ``index<TAB>prediction`` rows (GLUE submission format) for every row of ``input_file``;
    labels are the task's file values (e.g. 0/1, entailment), scores for regression. ``task`` None =
    the task recorded in the model directory. Returns the number of rows. BertdistilError for a model that is
    not a fine-tuned classifier, an unknown task or a missing input file."""
    m, tok = load_classifier(model, device)          # refuses an untrained head before anything else
    spec = resolve_task(task, model_dir=model)
    path = Path(input_file)
    if not path.exists():
        raise BertdistilError(f"input file {path} not found")
    dataset = is_arrow_source(path)
    table = [r for _, r in rows(path, True)] if spec.header or dataset else None   # columns and index
    # labels are never used here; for text files the flag picks the labelled or the test-file columns
    labelled = not dataset and (table is None or spec.label in (table[0] if table else {}))
    ex = load_split(spec, [path], labelled=labelled)
    index = [str(r.get("index", r.get("idx", i))) for i, r in enumerate(table)] if table is not None \
        else [str(i) for i in range(len(ex))]
    if m.config.num_labels != spec.num_labels:
        raise BertdistilError(f"{model} has {m.config.num_labels} outputs but {spec.name} needs {spec.num_labels}: "
                              "pass a model fine-tuned on this task")
    preds = to_predictions(spec, predict_outputs(m, tok, encode(tok, ex, max_len), bf16=bf16))
    with open(output_file, "w") as f:
        f.write("index\tprediction\n")
        for i, p in zip(index, preds):
            f.write(f"{i}\t{p:.3f}\n" if spec.is_regression else f"{i}\t{spec.labels[int(p)]}\n")
    return len(preds)
