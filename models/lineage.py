"""Where a run's model starts: freshly initialised, or a pretrained run's backbone under a new head."""

from __future__ import annotations

from typing import Any

from data.errors import DataError
from models.config import RunConfig
from models.run_dir import RunDir


def pretrained_run(config: RunConfig) -> RunDir | None:
    if not config.finetune.from_run:
        return None
    return RunDir.resolve(config.workspace, config.finetune.from_run)


def adopt_pretrained_architecture(config: RunConfig, run: RunDir) -> None:
    """A fine-tuned model must have its parent's backbone shape and tokenizer: copy them into the config."""
    parent = pretrained_run(config)
    if parent is None:
        return
    if not parent.model_path.exists() and not parent.last_checkpoint.exists():
        raise DataError(
            f"run '{parent.id}' has no saved model to fine-tune from",
            hint="finish (or resume) the pretraining run first, or pick a completed run.",
        )
    parent_config = parent.config()
    keep_classes = config.model.num_classes
    config.model = parent_config.model
    config.model.num_classes = keep_classes
    config.model.preset = None  # the architecture is now the parent's, field by field
    config.tokenizer = parent_config.tokenizer
    run.write_status(from_run=parent.id)
    config.save(run.config_path)


def pretrained_tokenizer(config: RunConfig) -> Any | None:
    parent = pretrained_run(config)
    if parent is None:
        return None
    from data.tokenizers import load_tokenizer

    return load_tokenizer(parent.tokenizer_dir)


def initial_model(config: RunConfig, run: RunDir) -> Any:
    """A new model for the run's task, on the parent's trained backbone when fine-tuning."""
    from models.builders import build_model, build_task_from_backbone, get_backbone
    from models.presets import resolve_model_config

    model_cfg = resolve_model_config(config.model, config.task)
    parent = pretrained_run(config)
    if parent is None:
        return build_model(model_cfg, config.task)
    from models.safe_load import load_keras_model

    source = parent.model_path if parent.model_path.exists() else parent.last_checkpoint
    parent_model = load_keras_model(source, compile=False)
    backbone = get_backbone(parent_model)
    return build_task_from_backbone(backbone, model_cfg, config.task)


def before_epoch(model: Any, config: RunConfig, epoch: int, total_steps: int) -> None:
    """Freeze the pretrained backbone for the first N epochs of fine-tuning, then train it too."""
    freeze = config.finetune.freeze_backbone_epochs
    if not config.finetune.from_run or freeze <= 0:
        return
    from models.builders import get_backbone

    backbone = get_backbone(model)
    should_train = epoch >= freeze
    if backbone.trainable != should_train:
        backbone.trainable = should_train
        # Keras snapshots trainable variables when it compiles the train step: recompile, keeping the optimizer.
        from models.train import recompile

        recompile(model, config)
