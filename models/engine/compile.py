"""Compile a run's model: AdamW with warmup + cosine decay, the task's loss and accuracy metric."""

from __future__ import annotations

from typing import Any

from models import tasks
from models.config import RunConfig


def compile_model(model: Any, config: RunConfig, total_steps: int) -> None:
    """AdamW with linear warmup + cosine decay and global-norm clipping; float32 logits, sparse CE loss."""
    import keras

    from models.engine.optimizers import make_optimizer

    t = config.train
    warmup = int(total_steps * t.warmup_ratio)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=t.learning_rate * (0.0 if warmup else 1.0),
        warmup_target=t.learning_rate if warmup else None,
        warmup_steps=warmup,
        decay_steps=max(1, total_steps - warmup),
        alpha=t.min_lr_ratio,
    )
    recompile(model, config, make_optimizer(model, config, schedule))
    # Build slots for every variable now, so freezing and unfreezing the backbone later keeps one optimizer.
    model.optimizer.build(model.trainable_variables)


def recompile(model: Any, config: RunConfig, optimizer: Any = None) -> None:
    """(Re)compile with the run's loss and metrics; after a trainable change, reuse the optimizer and its state."""
    import keras

    t = config.train
    accuracy = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    # Tasks with a weighted loss (masked positions, each word's first sub-token) average the loss and the
    # metrics over those positions, not over every position of the batch.
    weighted = tasks.get(config.task).weighted_loss
    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight" if weighted else "sum_over_batch_size"
    )
    if config.distill.teacher:  # a student's targets are the teacher's soft labels beside the label
        from models.engine.distill_loss import DistillationAccuracy, DistillationLoss

        classes = config.model.num_classes
        d = config.distill
        loss = DistillationLoss(classes, temperature=d.temperature, alpha=d.alpha)
        accuracy = [DistillationAccuracy(classes)]
    model.compile(
        optimizer=optimizer or model.optimizer,
        loss=loss,
        metrics=None if weighted else accuracy,
        weighted_metrics=accuracy if weighted else None,
        jit_compile=jit_setting(config),
        steps_per_execution=t.steps_per_execution,
    )


def jit_setting(config: RunConfig) -> bool | str:
    """``train.jit_compile``, with "auto" meaning XLA on for a transformer of a fixed-shape task on TensorFlow.

    Keras's own "auto" leaves XLA off on a CPU-only TensorFlow; for the causal LM it measured 1.15-1.26x the
    whole train command's speed and 1.5x the step rate on this project's CPU machine (BENCHMARKS.md "A
    language model's recipe ..."). Distributed runs keep Keras's choice (off under a tf.distribute strategy),
    and so do kinds with loops (the LSTM) and tasks whose batch shapes vary (each shape is a new compile).
    """
    import keras

    t = config.train
    if t.jit_compile != "auto":
        return t.jit_compile
    fixed = tasks.get(config.task).fixed_shapes and config.model.kind == "transformer"
    if fixed and keras.backend.backend() == "tensorflow" and config.distribution == "none":
        return True
    return "auto"
