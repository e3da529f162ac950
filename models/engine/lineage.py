"""Where a run's model starts: freshly initialised, or a pretrained run's backbone under a new head."""

from __future__ import annotations

import time
from typing import Any

from data.errors import DataError
from data.fileio import atomic_write_json
from models import tasks
from models.config import RunConfig
from models.run_dir import RunDir


def pretrained_run(config: RunConfig) -> RunDir | None:
    if not config.finetune.from_run:
        return None
    return RunDir.resolve(config.workspace, config.finetune.from_run)


def keeps_parent_head(parent_task: str, task: str) -> bool:
    """Same task: the whole parent model continues (head and label ids too); else a new head is built."""
    return parent_task == task


def adopt_pretrained_architecture(config: RunConfig, run: RunDir) -> None:
    """A fine-tuned model must have its parent's backbone shape and tokenizer: copy them into the config,
    and record where the run comes from (status.json ``from_run``, ``lineage.json``)."""
    from models.architecture.presets import resolve_model_config

    parent = pretrained_run(config)
    if parent is None:
        return
    if not parent.trained_model.exists():
        raise DataError(
            f"run '{parent.id}' has no saved model to fine-tune from",
            hint="finish (or resume) the pretraining run first, or pick a completed run.",
        )
    if parent.path.resolve() == run.path.resolve():
        raise DataError(
            "a run cannot fine-tune from itself.", hint="pass the pretraining run's id with --from."
        )
    parent_config = parent.config()
    keep_classes = config.model.num_classes
    # Resolved: the preset's sizes become explicit fields, and `causal` is what the parent's backbone is.
    config.model = resolve_model_config(parent_config.model, parent_config.task)
    config.model.num_classes = keep_classes
    config.model.preset = None  # the architecture is now the parent's, field by field
    config.tokenizer = parent_config.tokenizer
    keep_head = keeps_parent_head(parent_config.task, config.task)
    if keep_head and parent.labels() and not run.labels_path.exists():
        atomic_write_json(run.labels_path, parent.labels())  # the kept head's label ids
    if not run.lineage_path.exists():  # written once: a resumed run still names the state it started from
        status = parent.status()
        atomic_write_json(
            run.lineage_path,
            {
                "parent_id": parent.id,
                "parent_path": str(parent.path.resolve()),
                "parent_task": parent_config.task,
                "parent_step": int(status.get("step") or 0),
                "parent_best": status.get("best"),
                "parent_model": str(parent.trained_model.relative_to(parent.path)),
                "head": "kept from parent" if keep_head else "new",
                "freeze_backbone_epochs": config.finetune.freeze_backbone_epochs,
                "backbone_lr_multiplier": config.finetune.backbone_lr_multiplier,
                "created": time.time(),
            },
        )
    run.write_status(from_run=parent.id)
    config.save(run.config_path)


def pretrained_tokenizer(config: RunConfig) -> Any | None:
    """The parent's tokenizer, checked against the vocabulary size its model was built with."""
    parent = pretrained_run(config)
    if parent is None:
        return None
    from data.tokenizers import load_tokenizer

    tokenizer = load_tokenizer(parent.tokenizer_dir)
    expected = parent.config().model.vocab_size
    if expected and tokenizer.vocab_size != expected:
        raise _vocab_mismatch(parent, tokenizer.vocab_size, expected)
    return tokenizer


def initial_model(config: RunConfig, run: RunDir) -> Any:
    """A new model for the run's task, on the parent's trained backbone when fine-tuning."""
    from models.architecture.builders import build_model, build_task_from_backbone, get_backbone
    from models.architecture.presets import resolve_model_config

    model_cfg = resolve_model_config(config.model, config.task)
    parent = pretrained_run(config)
    if parent is None:
        return build_model(model_cfg, config.task)
    from models.engine.safe_load import load_keras_model

    parent_model = load_keras_model(parent.trained_model, compile=False)
    backbone = get_backbone(parent_model)
    # A parent saved during its own frozen epochs carries trainable=False; this run decides for itself.
    backbone.trainable = True
    rows = backbone.get_layer("token_embedding").input_dim
    if rows != config.model.vocab_size:
        raise _vocab_mismatch(parent, config.model.vocab_size, rows)
    if keeps_parent_head(parent.config().task, config.task):
        if tasks.get(config.task).labelled and parent_model.num_classes != config.model.num_classes:
            raise DataError(
                f"run '{parent.id}' has a {parent_model.num_classes}-class head but this run has "
                f"{config.model.num_classes} labels.",
                hint="use the parent's label set, or fine-tune from a language-model run for a new head.",
            )
        return parent_model
    return build_task_from_backbone(backbone, model_cfg, config.task)


def before_epoch(model: Any, config: RunConfig, epoch: int, total_steps: int) -> None:
    """Freeze the pretrained backbone for the first N epochs of fine-tuning, then train it too.

    The freeze is a backbone learning rate of 0 in the run's BackboneScaledAdamW (see models.engine.optimizers for
    why not ``trainable=False``); it is set at every epoch start, so a resumed run gets it right as well."""
    freeze = config.finetune.freeze_backbone_epochs
    if not config.finetune.from_run or freeze <= 0:
        return
    from models.engine.optimizers import BackboneScaledAdamW

    optimizer = model.optimizer
    if not isinstance(optimizer, BackboneScaledAdamW):
        raise RuntimeError(f"freezing the backbone needs BackboneScaledAdamW, got {type(optimizer).__name__}")
    optimizer.freeze_backbone(epoch < freeze)


def _vocab_mismatch(parent: RunDir, tokenizer_size: int, model_size: int) -> DataError:
    return DataError(
        f"run '{parent.id}': its tokenizer has {tokenizer_size} tokens but its model's embedding has "
        f"{model_size} rows, so token ids would not match the pretrained embeddings.",
        file=str(parent.tokenizer_dir),
        hint="restore the run's original tokenizer/ folder (vocab.txt), or fine-tune from another run.",
    )
