"""Size presets per model kind and ModelConfig resolution (preset sizes applied, attention direction set)."""

from __future__ import annotations

import dataclasses
from typing import Any

from data.errors import DataError
from models import tasks
from models.config import CRF_OFFSETS, ModelConfig

# CPU-friendly sizes. Fields not listed (seq_len, dropout, vocab_size, ...) keep the config's values.
PRESETS: dict[str, dict[str, dict[str, int]]] = {
    "transformer": {
        "tiny": {"hidden_dim": 64, "num_layers": 2, "num_heads": 4, "intermediate_dim": 256},
        "small": {"hidden_dim": 128, "num_layers": 4, "num_heads": 4, "intermediate_dim": 512},
        "base": {"hidden_dim": 256, "num_layers": 6, "num_heads": 8, "intermediate_dim": 1024},
    },
    "lstm": {
        "tiny": {"hidden_dim": 64, "num_layers": 1},
        "small": {"hidden_dim": 128, "num_layers": 2},
        "base": {"hidden_dim": 256, "num_layers": 2},
    },
    "bag": {
        "tiny": {"hidden_dim": 32, "ngram_buckets": 20_000},
        "small": {"hidden_dim": 64, "ngram_buckets": 50_000},
        "base": {"hidden_dim": 128, "ngram_buckets": 200_000},
    },
    # fastText's buckets over the n-gram tokenizer's ids: size set by the preset, not the vocabulary.
    # tiny ~33k parameters (a tenth of a small linear model), small ~1M, base ~8M.
    "hashed": {
        "tiny": {"hidden_dim": 8, "ngram_buckets": 4_096},
        "small": {"hidden_dim": 16, "ngram_buckets": 65_536},
        "base": {"hidden_dim": 32, "ngram_buckets": 262_144},
    },
    # One size: a weight per n-gram and class (hidden_dim is set to num_classes below).
    "linear": {"tiny": {}, "small": {}, "base": {}},
    # One size too: per word feature, a weight per tag and window offset (hidden_dim set below).
    "crf": {"tiny": {}, "small": {}, "base": {}},
}
PRESET_NAMES: tuple[str, ...] = ("tiny", "small", "base")


def hashed_parameter_count(preset: str, num_classes: int) -> int:
    """A hashed classifier's parameters at ``preset`` without building it (Keras-free: the CLI sizes a
    distillation student before it picks the run's backend): the table, then the head's kernel and bias."""
    sizes = PRESETS["hashed"][preset]
    buckets, dim = sizes["ngram_buckets"], sizes["hidden_dim"]
    return buckets * dim + dim * num_classes + num_classes


def resolve_model_config(cfg: ModelConfig, task: str | None = None) -> ModelConfig:
    """Return a copy with the preset's sizes applied (unless preset is None) and `causal` resolved.

    `causal` None becomes what the task needs (TaskSpec.causal); without a task it stays None.
    """
    if cfg.kind not in PRESETS:
        raise DataError(
            f"model.kind {cfg.kind!r} is not a model kind.", hint=f"Use one of: {', '.join(PRESETS)}."
        )
    updates: dict[str, Any] = {}
    if cfg.preset is not None:
        if cfg.preset not in PRESETS[cfg.kind]:
            raise DataError(
                f"model.preset {cfg.preset!r} is not a preset.",
                hint=f"Use one of: {', '.join(PRESET_NAMES)}, or null to use the explicit sizes.",
            )
        updates.update(PRESETS[cfg.kind][cfg.preset])
    if cfg.kind == "linear" and cfg.num_classes > 0:
        updates["hidden_dim"] = cfg.num_classes  # the backbone's width is one weight per class
    if cfg.kind == "crf" and cfg.num_classes > 0:
        updates["hidden_dim"] = cfg.num_classes * len(
            CRF_OFFSETS
        )  # the embedding: a weight per tag and offset
    if cfg.causal is None and task is not None:
        updates["causal"] = tasks.get(task).causal
    return dataclasses.replace(cfg, **updates)
