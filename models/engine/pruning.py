"""Magnitude pruning of a finished run's weights to a target sparsity, with a short fine-tune."""

from __future__ import annotations

from typing import Any

from models.config import RunConfig


def training_callbacks(model: Any, config: RunConfig, total_steps: int) -> list[Any]:
    """The callbacks that keep the pruned weights at zero while the run trains; none when not pruning."""
    if not config.prune.sparsity:
        return []
    raise RuntimeError("pruning is being built")
