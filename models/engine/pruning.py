"""Magnitude pruning of a finished run's weights to a target sparsity, with a short fine-tune.

A pruning run is a same-task fine-tune of its parent (``finetune.from_run``: lineage.initial_model loads the
parent's whole model, head and label ids included) whose weights are pruned while it trains:

- which weights: every trainable matrix (rank >= 2) — the token, hashed-bigram and n-gram embedding tables,
  the Dense/EinsumDense kernels of attention and feed-forward layers, the LSTM kernels, an untied LM output
  projection — but not biases (an attention bias is [heads, head_dim]) or norms, not the position
  embedding (a few rows that every text reads) and not a labelled task's head (``logits``: hidden x classes,
  a sliver of the model that every prediction goes through; in the linear and CRF kinds it is the identity
  the fit relies on).
- how: per weight, the share ``sparsity`` of its values smallest in magnitude is set to zero (exactly
  ``round(sparsity * size)`` of them). Per weight, not one global threshold: the tables differ in scale
  (embeddings start at a 0.02 deviation, kernels at Glorot's), so a global threshold would empty whole
  tables and keep others dense; per weight, every matrix keeps its most important share.
- when: gradually (Zhu & Gupta 2017, "To prune, or not to prune"): at step t the target is
  ``s_f * (1 - (1 - t / T)^3)``, the masks grown in up to ``MASK_UPDATES`` steps over the ramp ``T``, then
  held while the model recovers. ``T`` ends at the end of the first epoch at the latest (and at half the
  run), so every epoch-end validation, and therefore the best checkpoint the run keeps, is at full sparsity.
- kept at zero: the masks are applied after every training batch (Keras calls back once per execution, so
  with ``train.steps_per_execution`` > 1 the optimizer can move a pruned value inside an execution; it is
  zeroed again when the execution ends), before the engine's monitor can save a checkpoint. A resumed run
  recomputes the masks from the checkpoint's weights: its zeros are the smallest magnitudes, so they stay.
- the fitted kinds (linear, CRF) are not trained by gradient descent: their pruned copy is pruned once
  (one-shot magnitude pruning of the parent's fit) and never refitted.

The achieved sparsity, per weight and overall, goes into eval.json and status.json (``pruning``). The
TFLite file stores dense tensors, so pruning does not make model.tflite smaller; the zeros do compress in
the bundle's zip.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from data.errors import DataError
from models import tasks
from models.config import FITTED_KINDS, RunConfig
from models.run_dir import RUNS_SUBDIR, RunDir

# A pruning run's fine-tune: at most two epochs and this many steps, at this share of the parent's
# learning rate, without warm-up (the weights start trained).
FINETUNE_EPOCHS = 2
FINETUNE_MAX_STEPS = 500
FINETUNE_LR_FACTOR = 0.3
DEFAULT_SPARSITY = 0.5
MASK_UPDATES = 16  # the ramp's mask updates (Zhu & Gupta's pruning frequency, as a count)
# Weights never pruned: the position embedding, and the label head of labelled tasks (see the docstring).
POSITION_LAYER = "position_embedding"
HEAD_LAYER = "logits"


def pruning_config(workspace: str, ref: str, sparsity: float | None = None) -> RunConfig:
    """A new run's config that prunes run ``ref``: its task, data, tokenizer and (resolved) model, a short
    same-task fine-tune from it at a lower learning rate; the CLI's flags then override it."""
    from models.architecture.presets import resolve_model_config

    parent = RunDir.resolve(workspace, ref)
    if not parent.trained_model.exists():
        raise DataError(
            f"run '{parent.id}' has no trained model to prune",
            hint="finish (or resume) the run first, or pick a completed run (python -m app runs).",
        )
    source = parent.config()
    target = DEFAULT_SPARSITY if sparsity is None else check_sparsity(sparsity)
    default_name = f"{source.task}-{source.model.kind}"  # as RunDir.create names an unnamed run
    config = RunConfig(
        task=source.task,
        name=f"{source.name or default_name} pruned {round(target * 100)}%",
        backend=source.backend,
        precision=source.precision,
        distribution=source.distribution,
        workspace=str(workspace),
        data=source.data,
        tokenizer=source.tokenizer,
        model=resolve_model_config(source.model, source.task),
        train=source.train,
    )
    config.model.preset = None  # the parent's architecture, field by field
    t = config.train
    t.epochs = FINETUNE_EPOCHS
    t.max_steps = min(t.max_steps or FINETUNE_MAX_STEPS, FINETUNE_MAX_STEPS)
    t.learning_rate *= FINETUNE_LR_FACTOR
    t.warmup_ratio = 0.0
    t.early_stopping_patience = None  # two epochs, both at full sparsity: the better one is kept
    t.time_budget_s = None
    in_workspace = (Path(workspace) / RUNS_SUBDIR / parent.id).resolve() == parent.path.resolve()
    config.finetune.from_run = parent.id if in_workspace else str(parent.path.resolve())
    config.prune.sparsity = target
    return config


def check_sparsity(sparsity: float) -> float:
    if not 0.0 < sparsity < 1.0:
        raise DataError(
            f"sparsity {sparsity:g} is not a share between 0 and 1",
            hint="pass --sparsity as a fraction of each weight matrix to set to zero, e.g. 0.5 or 0.8.",
        )
    return float(sparsity)


def prunable_weights(model: Any, task: str) -> list[Any]:
    """The model's weights that pruning sets to zero (the module docstring says which and why)."""
    labelled = tasks.get(task).labelled
    chosen = []
    for weight in model.weights:
        layer = weight.path.split("/")[0]
        # An attention projection's bias is [heads, head_dim]: a matrix by shape, a bias by role.
        if not weight.trainable or len(weight.shape) < 2 or weight.name == "bias" or layer == POSITION_LAYER:
            continue
        if labelled and layer == HEAD_LAYER:
            continue
        chosen.append(weight)
    return chosen


def zeros_for(sparsity: float, size: int) -> int:
    """How many of ``size`` values a weight at ``sparsity`` has at zero."""
    return min(size, int(round(sparsity * size)))


def magnitude_mask(values: np.ndarray, zeros: int) -> np.ndarray:
    """1.0 where ``values`` is kept, 0.0 at exactly ``zeros`` of its smallest magnitudes (zeros first)."""
    flat = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    keep = np.ones(flat.size, dtype=np.float32)
    if zeros > 0:
        keep[np.argpartition(flat, zeros - 1)[:zeros]] = 0.0
    return keep.reshape(np.shape(values))


def scheduled_sparsity(step: int, target: float, ramp_steps: int, update_every: int = 1) -> float:
    """Zhu & Gupta's cubic ramp from 0 at step 0 to ``target`` at ``ramp_steps``, stepped every
    ``update_every`` steps; ``target`` from the end of the ramp on."""
    if step >= ramp_steps:
        return target
    reached = (step // update_every) * update_every
    return target * (1.0 - (1.0 - reached / ramp_steps) ** 3)


def ramp_steps(config: RunConfig, total_steps: int) -> int:
    """The ramp's length: half the run, and no later than the first epoch's end (``total_steps / epochs``
    is at most one epoch's steps), so each epoch-end validation sees the full sparsity."""
    return max(1, total_steps // max(2, config.train.epochs))


class MagnitudeMasks:
    """Per-weight magnitude masks that follow the schedule; Keras variables are read and written through
    ``keras.ops`` and ``assign``, so the same code runs on TensorFlow, JAX and PyTorch."""

    def __init__(self, weights: list[Any], target: float, ramp: int) -> None:
        self.weights = weights
        self.target = target
        self.ramp = ramp
        self.update_every = max(1, math.ceil(ramp / MASK_UPDATES))
        self.sparsity = -1.0  # the sparsity the masks hold; none computed yet
        self.masks: list[Any] = []

    def follow(self, step: int) -> None:
        """Grow the masks to the schedule's sparsity at ``step`` (from the weights as they are now), then
        zero the pruned values."""
        sparsity = scheduled_sparsity(step, self.target, self.ramp, self.update_every)
        if sparsity != self.sparsity:
            self.set_sparsity(sparsity)
        self.apply()

    def set_sparsity(self, sparsity: float) -> None:
        import keras

        self.masks = []
        for weight in self.weights:
            values = keras.ops.convert_to_numpy(weight.value)
            mask = magnitude_mask(values, zeros_for(sparsity, values.size))
            self.masks.append(keras.ops.convert_to_tensor(mask, dtype=weight.dtype))
        self.sparsity = sparsity

    def apply(self) -> None:
        import keras

        for weight, mask in zip(self.weights, self.masks, strict=True):
            weight.assign(keras.ops.multiply(weight.value, mask))


def training_callbacks(model: Any, config: RunConfig, total_steps: int) -> list[Any]:
    """The callbacks that keep the pruned weights at zero while the run trains; none when not pruning.

    List them before the engine's monitor: it may save a checkpoint at the same batch end."""
    if not config.prune.sparsity or keeps_fitted_weights(config):
        return []
    if config.model.kind in FITTED_KINDS:
        raise DataError(
            f"a {config.model.kind} model is fitted in closed form, not trained step by step, so it is not "
            "pruned while it trains",
            hint="fit the run first, then prune it: python -m app prune --from RUN --sparsity S.",
        )
    import keras

    masks = MagnitudeMasks(
        prunable_weights(model, config.task),
        check_sparsity(config.prune.sparsity),
        ramp_steps(config, total_steps),
    )

    def follow(*_: Any, **__: Any) -> None:
        # JAX keeps the training state outside the variables during fit: reading ``callback.model`` attaches
        # it (jax_state_sync), and the next step reads the variables again, masked.
        current = callback.model
        masks.follow(int(keras.ops.convert_to_numpy(current.optimizer.iterations)))

    # on_train_begin: each fit call (one per epoch, and a resumed run's first) recomputes the masks from the
    # weights at the restored step.
    callback = keras.callbacks.LambdaCallback(on_train_begin=follow, on_train_batch_end=follow)
    return [callback]


def prune_once(model: Any, config: RunConfig, run: RunDir) -> None:
    """One-shot magnitude pruning to the target (the fitted kinds' pruned copy: no refit, no fine-tune)."""
    masks = MagnitudeMasks(prunable_weights(model, config.task), check_sparsity(config.prune.sparsity), 1)
    masks.follow(1)
    run.log_metrics({"kind": "event", "event": "pruned", "step": 0, "sparsity": masks.sparsity})


def keeps_fitted_weights(config: RunConfig) -> bool:
    """A pruned copy of a fitted run (linear, CRF): the parent's fit is pruned once, never refitted."""
    return bool(config.prune.sparsity and config.finetune.from_run and config.model.kind in FITTED_KINDS)


def sparsity_report(model: Any, config: RunConfig) -> dict[str, Any]:
    """The share of zeros in each prunable weight and overall, the target, and how much of the model the
    prunable weights are."""
    import keras

    weights = prunable_weights(model, config.task)
    per_weight, zeros, size = {}, 0, 0
    for weight in weights:
        values = keras.ops.convert_to_numpy(weight.value)
        n = int(np.count_nonzero(values == 0))
        per_weight[weight.path] = {"shape": list(values.shape), "sparsity": round(n / values.size, 6)}
        zeros, size = zeros + n, size + values.size
    total = sum(int(np.prod(w.shape)) for w in model.weights)
    return {
        "target": config.prune.sparsity,
        "sparsity": round(zeros / size, 6) if size else 0.0,
        "zeros": zeros,
        "prunable_params": size,
        "params": total,
        "prunable_share": round(size / total, 6) if total else 0.0,
        "method": "one-shot magnitude" if config.model.kind in FITTED_KINDS else "gradual magnitude",
        "weights": per_weight,
    }


def record_sparsity(run: RunDir, model: Any, config: RunConfig) -> dict[str, Any] | None:
    """A pruning run's ``sparsity_report`` of ``model``, also written to status.json; None when not pruning."""
    if not config.prune.sparsity:
        return None
    report = sparsity_report(model, config)
    run.write_status(pruning={k: v for k, v in report.items() if k != "weights"})
    return report
