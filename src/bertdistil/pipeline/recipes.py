"""Recipes by name: what each changes relative to the configured recipe (``cfg.loss``, ``cfg.layer_map``).

As TextBrewer's presets map names to strategies, a name here maps to a ``Recipe``: a change of the loss
weights, of the teacher layers the student starts from, or random initialisation. The controls of
``reproduce`` (truncated, mlm_only, hidden_only) and the rows of ``ablate`` (paper Table 4) are lookups in
``RECIPES``; a new recipe is one entry. Whether a loss needs the teacher is ``LossConfig.needs_teacher``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..config import Config, LossConfig
from ..errors import BertdistilError


def _same(loss: LossConfig) -> LossConfig:
    return loss


def _configured_layers(n_teacher: int, layer_map: list | None) -> list | None:
    return layer_map


def _no_ce(loss: LossConfig) -> LossConfig:
    """Hidden-state distillation: soft targets off, cosine on (weight 1 if it was 0)."""
    return replace(loss, alpha_ce=0.0, alpha_cos=loss.alpha_cos or 1.0)


@dataclass(frozen=True)
class Recipe:
    description: str
    loss: Callable[[LossConfig], LossConfig] | None = _same   # None: not trained (the truncated teacher)
    layers: Callable[[int, list | None], list | None] = _configured_layers   # (teacher layers, configured map)
    random_init: bool = False
    paper_delta: float | None = None     # GLUE macro-score change in the paper's Table 4 (arXiv:1910.01108 v4)


RECIPES: dict[str, Recipe] = {
    "full": Recipe("triple loss + teacher-layer init"),
    "truncated": Recipe("truncated teacher (student init, untrained)", loss=None),
    "mlm_only": Recipe("MLM-only student (no teacher)", lambda lc: LossConfig(
        alpha_ce=0.0, alpha_mlm=lc.alpha_mlm or 1.0, alpha_cos=0.0)),
    "hidden_only": Recipe("hidden-state distillation (α_ce = 0)", _no_ce),
    "triple": Recipe("triple loss (paper α)", lambda lc: LossConfig()),
    "no_ce": Recipe("∅ − L_ce", _no_ce, paper_delta=-2.96),
    "no_cos": Recipe("∅ − L_cos", lambda lc: replace(lc, alpha_cos=0.0), paper_delta=-1.46),
    "no_mlm": Recipe("∅ − L_mlm", lambda lc: replace(lc, alpha_mlm=0.0), paper_delta=-0.31),
    "random_init": Recipe("triple loss + random init", random_init=True, paper_delta=-3.69),
    "first_half": Recipe("init from the first half of the teacher's layers",
                         layers=lambda n, _: list(range(max(1, n // 2)))),
    "ce_mask_swap": Recipe("restrict_ce_to_mask flipped",
                           lambda lc: replace(lc, restrict_ce_to_mask=not lc.restrict_ce_to_mask)),
    # beyond the paper: hidden-state recipes for sentence-embedding teachers (training.losses)
    "hidden_original": Recipe("hidden-state targets from the original teacher",
                              lambda lc: replace(lc, hidden_teacher="original")),
    "tinybert_hidden": Recipe("+ every layer's hidden states, α 1 (TinyBERT, Jiao et al. 2019)",
                              lambda lc: replace(lc, alpha_layers_mse=lc.alpha_layers_mse or 1.0)),
    "pkd": Recipe("+ intermediate [CLS] states, α 10 (Patient KD, Sun et al. 2019)",
                  lambda lc: replace(lc, alpha_pkd=lc.alpha_pkd or 10.0)),
    "minilm": Recipe("+ last-layer attention and value relations, α 1 each (MiniLM, Wang et al. 2020)",
                     lambda lc: replace(lc, alpha_attn=lc.alpha_attn or 1.0,
                                        alpha_value_rel=lc.alpha_value_rel or 1.0)),
    # sentence-embedding terms on the teacher's own pooling (LossConfig.pooling; Reimers & Gurevych 2020)
    "emb_mse": Recipe("sentence-embedding MSE alone (sentence-transformers' layer-reduction objective)",
                      lambda lc: LossConfig(alpha_ce=0.0, alpha_mlm=0.0, alpha_cos=0.0, alpha_emb_mse=1.0,
                                            pooling=lc.pooling, hidden_teacher=lc.hidden_teacher)),
    "emb_cos_only": Recipe("sentence-embedding cosine alone",
                           lambda lc: LossConfig(alpha_ce=0.0, alpha_mlm=0.0, alpha_cos=0.0, alpha_emb_cos=1.0,
                                                 pooling=lc.pooling, hidden_teacher=lc.hidden_teacher)),
    "emb_cos": Recipe("+ sentence-embedding cosine, α 1",
                      lambda lc: replace(lc, alpha_emb_cos=lc.alpha_emb_cos or 1.0)),
}
CONTROLS = ("truncated", "mlm_only", "hidden_only", "triple", "emb_mse")
ABLATION_ROWS = ("full", "no_ce", "no_cos", "no_mlm", "random_init", "first_half", "ce_mask_swap",
                 "hidden_original", "tinybert_hidden", "pkd", "minilm", "emb_mse", "emb_cos_only", "emb_cos")


def recipe(name: str, allowed: tuple[str, ...] = tuple(RECIPES), what: str = "recipe") -> Recipe:
    """The recipe ``name``; BertdistilError naming the choices if it is not among ``allowed``."""
    if name not in allowed:
        raise BertdistilError(f"unknown {what} '{name}': choose from {', '.join(allowed)}")
    return RECIPES[name]


def resolve(name: str, cfg: Config, n_teacher: int, allowed: tuple[str, ...] = tuple(RECIPES),
            what: str = "recipe") -> tuple:
    """(loss config or None when untrained, layer map or None for the default, random_init) of ``name``."""
    r = recipe(name, allowed, what)
    return (r.loss(cfg.loss) if r.loss else None), r.layers(n_teacher, cfg.layer_map), r.random_init
