"""What a run will be before it starts: parameter count, training-memory estimate, steps and time."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from models import tasks
from models.architecture.presets import resolve_model_config
from models.architecture.sizing import estimate_memory
from models.config import FITTED_KINDS, ModelConfig, RunConfig
from models.run_dir import RunDir, run_dirs

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


@dataclasses.dataclass
class StepPlan:
    """How many optimizer steps a run of labelled examples will take, before it starts."""

    per_epoch: int
    epochs: int
    total: int  # after the step cap
    capped_at_epoch: float | None  # the epoch a max_steps cap stops it in; None when every epoch runs


def planned_steps(config: RunConfig, rows: int | None) -> StepPlan | None:
    """Steps per epoch and in all from the dataset's example count and the split; None where examples are
    not rows (a language model's windows come from its tokens) or the count is unknown."""
    if not rows or not tasks.get(config.task).labelled or config.model.kind in FITTED_KINDS:
        return None
    t, d = config.train, config.data
    train_rows = max(1, rows - round(rows * d.val_fraction) - round(rows * d.test_fraction))
    per_epoch = t.steps_per_epoch or math.ceil(train_rows / max(1, t.batch_size))
    total = per_epoch * t.epochs
    if t.max_steps and t.max_steps < total:
        return StepPlan(per_epoch, t.epochs, t.max_steps, round(t.max_steps / per_epoch, 1))
    return StepPlan(per_epoch, t.epochs, total, None)


@dataclasses.dataclass
class MeasuredRate:
    """Training speed measured in an earlier run of the same model, batch and backend."""

    steps_per_s: float
    overhead_s: float  # the run's time outside steps: data, tokenizer, build, compile, evaluation, saving
    run_id: str


def measured_rate(config: RunConfig) -> MeasuredRate | None:
    """The median step rate of the newest completed run in the workspace that trained the same model at the
    same batch, sequence length, backend and precision (the steps it logged); None when there is none."""
    wanted = _speed_key(config)
    for run in run_dirs(config.workspace):  # every form edit asks: only a matching run's files are read
        try:
            if _speed_key(run.config()) != wanted:
                continue
        except (OSError, ValueError, TypeError):
            continue
        summary = run.summary()
        steps = [r for r in run.metrics() if r.get("kind") == "step" and (r.get("steps_per_s") or 0) > 0]
        if len(steps) >= 3 and summary.state == "completed" and summary.duration_s:
            rate = sorted(r["steps_per_s"] for r in steps)[len(steps) // 2]
            overhead = max(0.0, summary.duration_s - summary.step / rate)  # what is not steps: fixed per run
            return MeasuredRate(rate, overhead, summary.id)
    return None


def _speed_key(config: RunConfig) -> tuple:
    """What a step's time depends on: the model (its kind and sizes), batch, sequence length, backend."""
    m = config.model
    sizes = (m.preset,) if m.preset else (m.hidden_dim, m.num_layers, m.num_heads, m.intermediate_dim)
    rest = (m.seq_len, config.tokenizer.kind, config.train.batch_size, config.backend, config.precision)
    return (config.task, m.kind, *sizes, *rest)
