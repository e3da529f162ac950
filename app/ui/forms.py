"""Train-form values -> RunConfig, through the CLI's own config_from_args so both build the same config."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from models.config import RunConfig

# Label shown in the UI -> (CLI command, engine task).
TASK_CHOICES: dict[str, tuple[str, str]] = {
    "Classifier": ("train", "classifier"),
    "Language model (generate text)": ("train", "causal_lm"),
    "Masked language model (pretrain for fine-tuning)": ("train", "masked_lm"),
    "Fine-tune a classifier from a run": ("finetune", "classifier"),
    "Token tagging": ("train", "token_classifier"),
    "Fine-tune a token tagger from a run": ("finetune", "token_classifier"),
}
FINETUNE_LABEL = "Fine-tune a classifier from a run"


def is_finetune(task_label: str) -> bool:
    return TASK_CHOICES.get(task_label, ("train", ""))[0] == "finetune"


PRETRAINED_TASKS = ("causal_lm", "masked_lm")
LABELLED_TASKS = ("classifier", "token_classifier")


@dataclass
class TrainForm:
    """Everything the Train tab collects; field names follow the CLI flags."""

    task_label: str
    kind: str = "transformer"
    preset: str = "tiny"
    backend: str = "tensorflow"
    precision: str = "auto"
    tokenizer: str = "char"
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-3
    seq_len: int = 128
    max_steps: int | None = None
    log_every: int = 10
    from_run: str | None = None
    name: str = ""


def task_for(task_label: str) -> str:
    return TASK_CHOICES.get(task_label, ("train", "classifier"))[1]


def default_task_label(has_labels: bool) -> str:
    return "Classifier" if has_labels else "Language model (generate text)"


def run_config(workspace: str, dataset: dict[str, Any] | None, form: TrainForm) -> RunConfig:
    """Build the run's config exactly as `python -m app train/finetune ...` would, plus the UI-only knobs."""
    command, task = TASK_CHOICES.get(form.task_label, ("train", "classifier"))
    dataset = dataset or {}
    args = argparse.Namespace(
        command=command,
        workspace=workspace,
        config=None,
        task=task,
        data=dataset.get("path"),
        text_column=dataset.get("text_column") or None,
        label_column=(dataset.get("label_column") or None) if task in LABELLED_TASKS else None,
        text_mode=dataset.get("text_mode") or None,
        name=(form.name or "").strip() or None,
        kind=form.kind,
        preset=form.preset,
        seq_len=_int(form.seq_len),
        tokenizer=form.tokenizer,
        backend=form.backend,
        precision=form.precision,
        epochs=_int(form.epochs),
        batch_size=_int(form.batch_size),
        learning_rate=float(form.learning_rate) if form.learning_rate else None,
        max_steps=_int(form.max_steps) or None,
        from_run=form.from_run if command == "finetune" else None,
    )
    from app.cli import config_from_args

    config = config_from_args(args)
    config.train.log_every = max(1, _int(form.log_every) or config.train.log_every)
    return config


def size_estimate(config: RunConfig, num_classes: int | None = None) -> str:
    """Parameter count and training-memory estimate (models.presets) before the vocabulary is known."""
    from models.presets import estimate_memory, resolve_model_config

    model_cfg = config.model
    if config.finetune.from_run:  # the fine-tuned model keeps its parent's backbone
        from models.run_dir import RunDir

        model_cfg = RunDir.resolve(config.workspace, config.finetune.from_run).config().model
        model_cfg.preset = None
    model_cfg = resolve_model_config(model_cfg, config.task)
    if not model_cfg.vocab_size:  # same guess as `train --dry-run`: the tokenizer is trained later
        model_cfg.vocab_size = config.tokenizer.vocab_size if config.tokenizer.kind == "wordpiece" else 128
    if config.task in LABELLED_TASKS:
        model_cfg.num_classes = num_classes or model_cfg.num_classes or 2
    memory = estimate_memory(model_cfg, config.task, config.train.batch_size, config.precision)
    return f"**Model size:** {memory['human']} (vocabulary estimated before training)"


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)
