"""What a run will be before it starts: its model's parameter count and training-memory estimate."""

from __future__ import annotations

import dataclasses
from typing import Any

from models import tasks
from models.architecture.presets import resolve_model_config
from models.architecture.sizing import estimate_memory
from models.config import ModelConfig, RunConfig
from models.run_dir import RunDir

# The tokenizer is trained when the run starts; until then the vocabulary size is a guess.
CHAR_VOCAB_GUESS = 128
NGRAM_VOCAB_GUESS = (
    100_000  # every n-gram of the training split: 52k (TREC) to 620k (Chinese reviews) measured
)


def planned_model(config: RunConfig, num_classes: int | None = None) -> ModelConfig:
    """The model config the run will build: its parent's backbone when fine-tuning, sizes resolved."""
    if config.finetune.from_run:  # a fine-tuned model keeps its parent's backbone, field by field
        parent = RunDir.resolve(config.workspace, config.finetune.from_run).config()
        model_cfg = resolve_model_config(parent.model, parent.task)
        model_cfg.preset = None
    else:
        model_cfg = config.model
    if tasks.get(config.task).labelled:  # before resolving: the linear kind's width is the class count
        model_cfg = dataclasses.replace(model_cfg, num_classes=num_classes or model_cfg.num_classes or 2)
    model_cfg = resolve_model_config(model_cfg, config.task)
    if not model_cfg.vocab_size:
        capped = config.tokenizer.kind in ("wordpiece", "word_features")  # vocab_size is their ceiling
        guess = NGRAM_VOCAB_GUESS if config.tokenizer.kind == "ngrams" else CHAR_VOCAB_GUESS
        model_cfg.vocab_size = config.tokenizer.vocab_size if capped else guess
    return model_cfg


def size_estimate(config: RunConfig, num_classes: int | None = None) -> dict[str, Any]:
    """estimate_memory of the planned model (parameters exact for the guessed vocabulary; memory rough)."""
    model_cfg = planned_model(config, num_classes)
    return estimate_memory(model_cfg, config.task, config.train.batch_size, config.precision)
