"""Parameter count and training-memory estimates of a ModelConfig, shown before training."""

from __future__ import annotations

from typing import Any

from data.errors import DataError
from models import tasks
from models.architecture.builders import build_model
from models.architecture.presets import resolve_model_config
from models.config import FITTED_KINDS, ModelConfig
from models.tasks.spec import HEAD_LANGUAGE_MODEL


def count_params(cfg: ModelConfig, task: str) -> int:
    """Exact parameter count, by building the model (symbolic build only: cheap even for `base`)."""
    return int(build_model(cfg, task).count_params())


# Rough activation elements kept for the backward pass, per token and per layer, in units of hidden_dim
# (plus the feed-forward and attention terms below). Order-of-magnitude guidance, not a measurement.
_TRANSFORMER_ACT_PER_HIDDEN = 13  # norms, q/k/v, attention output, projections, residuals, dropout masks
_LSTM_ACT_PER_HIDDEN = 10  # 4 gates, cell and hidden states, tanh(cell), dropout


def estimate_memory(
    cfg: ModelConfig, task: str, batch_size: int, precision: str = "float32"
) -> dict[str, Any]:
    """Rough training-memory estimate: parameters, gradients, AdamW state and activations per batch.

    Variables stay float32 under mixed precision; only activations shrink. "auto" is counted as float32
    (the upper bound), since the actual choice depends on the device.
    """
    if batch_size < 1:
        raise DataError(
            f"batch size must be at least 1, got {batch_size}.", hint="Use a positive batch size."
        )
    resolved = resolve_model_config(cfg, task)
    params = count_params(resolved, task)
    act_bytes = 2 if precision in ("mixed_float16", "mixed_bfloat16") else 4
    tokens = batch_size * resolved.seq_len
    h = resolved.hidden_dim
    if resolved.kind in FITTED_KINDS:  # fitted in closed form: one weight per position, no backward pass
        per_layer = 1
    elif resolved.kind == "hashed":
        per_layer = h  # one table row per position
    elif resolved.kind == "bag":
        per_layer = 3 * h  # token and bigram embeddings, their sum (dropout mask)
    elif resolved.kind == "transformer":
        per_layer = _TRANSFORMER_ACT_PER_HIDDEN * h + 2 * resolved.intermediate_dim
        per_layer += 3 * resolved.num_heads * resolved.seq_len  # scores, softmax, dropout mask
    else:
        per_layer = _LSTM_ACT_PER_HIDDEN * h
    activation_elements = tokens * (per_layer * resolved.num_layers + 4 * h)  # + embeddings, final norm
    activation_bytes = activation_elements * act_bytes
    if tasks.get(task).head == HEAD_LANGUAGE_MODEL:
        # float32 logits, their softmax and gradient dominate for larger vocabularies.
        activation_bytes += 3 * tokens * resolved.vocab_size * 4
    param_bytes = params * 4
    fitted = resolved.kind in FITTED_KINDS  # liblinear's or CRFsuite's fit: no gradients, no AdamW state
    gradient_bytes = 0 if fitted else params * 4
    optimizer_bytes = 0 if fitted else params * 4 * 2  # AdamW first and second moments
    total = param_bytes + gradient_bytes + optimizer_bytes + activation_bytes
    return {
        "params": params,
        "param_bytes": param_bytes,
        "gradient_bytes": gradient_bytes,
        "optimizer_bytes": optimizer_bytes,
        "activation_bytes": activation_bytes,
        "total_bytes": total,
        "human": (
            f"{format_count(params)} parameters ({format_bytes(param_bytes)}); "
            f"~{format_bytes(total)} to train at batch {batch_size}, seq_len {resolved.seq_len}, {precision}"
        ),
    }


def format_count(n: int) -> str:
    """1234567 -> '1.23M'."""
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.2f}{suffix}"
    return str(n)


def format_bytes(n: int) -> str:
    """Binary units: 1536 -> '1.5 KiB'."""
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            break
        value /= 1024
    return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
