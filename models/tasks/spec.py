"""TaskSpec: everything that differs between tasks, in one typed record per task module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# What a trained run of a task does for a user (Playground, CLI, on-device signatures).
GENERATE = "generate"  # continue a prompt
CLASSIFY = "classify"  # label probabilities per text
TAG = "tag"  # a tag per word

# Which head models.architecture.heads puts on the backbone.
HEAD_LANGUAGE_MODEL = "language_model"  # logits over the vocabulary at every position (tied or untied)
HEAD_POOLED = "pooled"  # masked mean over positions -> logits over the labels
HEAD_PER_TOKEN = "per_token"  # logits over the labels at every position


@dataclass
class PreparedData:
    """What the engine needs to fit and evaluate one run."""

    train_factory: Callable[[int], Any]  # epoch -> tf.data.Dataset of one shuffled pass
    val: Any | None
    test: Any | None
    batches_per_pass: int
    tokens_per_batch: int
    tokenizer: Any
    labels: list[str] | None = None
    # classify: (ids, label ids); tag: (ids, tag ids, weights) for the report
    test_arrays: tuple[np.ndarray, ...] | None = None
    # classify: (ids, label ids) of the validation split; tag: (ids, tag ids, weights)
    val_arrays: tuple[np.ndarray, ...] | None = None
    # classify: (ids, label ids) of the training split, for models fitted in closed form (the linear kind)
    train_arrays: tuple[np.ndarray, ...] | None = None
    # classify, a distilled linear student: (ids, [rows, classes] target probabilities) to fit, the labelled
    # training rows' and any extra texts' (models.engine.distillation)
    soft_train: tuple[np.ndarray, np.ndarray] | None = None
    test_tags: list[list[str]] | None = None  # tag: gold word tags of the test sentences
    val_tags: list[list[str]] | None = None  # tag: gold word tags of the validation sentences
    # classify: raw texts and label ids of each split ("train", "val", "test"), for the classic baseline
    texts: dict[str, tuple[list[str], np.ndarray]] | None = None
    report: dict[str, Any] = field(default_factory=dict)


Preparer = Callable[[Any, Any, Any], PreparedData]  # (RunConfig, RunDir, tokenizer or None)
Evaluator = Callable[[Any, PreparedData, Any], dict[str, Any]]  # (model, prepared, RunDir) -> report
Validator = Callable[[Any, PreparedData], dict[str, float]]  # (model, prepared) -> {"val_<metric>": value}


@dataclass(frozen=True)
class TaskSpec:
    """One task: how its data is prepared, its head and loss, its evaluator, and what it can do."""

    name: str  # the value of RunConfig.task and config.json "task"
    label: str  # the Train tab's choice
    summary: str  # one line for `--help` and docs
    prepare: Preparer
    evaluate: Evaluator
    head: str  # HEAD_*
    headline: tuple[str, ...]  # eval.json keys shown as the run's result, most telling first
    order: int = 100  # position in the CLI choices and the Train tab
    default: bool = False  # the task of a config that names none
    causal: bool = False  # the backbone must not see later tokens
    labelled: bool = False  # a label per example or per word; num_classes comes from the data
    weighted_loss: bool = False  # loss and accuracy averaged over the sample-weighted positions only
    pretrains: bool = False  # a finished run's backbone can be fine-tuned by a fine-tunable task
    finetune_label: str | None = None  # the Train tab's choice to start this task from a pretrained run
    interface: str | None = None  # GENERATE / CLASSIFY / TAG, or None: nothing to play with or export
    exportable: bool = False  # models.export writes a TFLite bundle for its runs
    # its pipelines cut every batch to a process's slice, so one run can span processes (models.processes)
    spans_processes: bool = False
    # every training batch has one shape (fixed windows), so XLA compiles a transformer's step once: the engine
    # turns jit_compile "auto" on for it on TensorFlow's CPU too (models.engine.compile.jit_setting)
    fixed_shapes: bool = False
    # ``validate`` scores the validation split after each epoch (logged and charted beside the loss). A task
    # whose validation loss is a poor guide to its result (a tagger's loss is mostly the O tag's) also names
    # ``select_by`` (one of its keys, higher is better), which then picks the best epoch and drives early
    # stopping instead of the validation loss.
    validate: Validator | None = None
    select_by: str | None = None

    @property
    def fine_tunable(self) -> bool:
        return self.finetune_label is not None

    @property
    def playable(self) -> bool:
        return self.interface is not None
