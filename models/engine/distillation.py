"""Knowledge distillation: a student classifier trained on a finished classifier run's soft labels."""

from __future__ import annotations

from typing import Any

from models.config import RunConfig
from models.run_dir import RunDir


def with_teacher(config: RunConfig, run: RunDir, prepared: Any) -> Any:
    """``prepared`` with the teacher's soft labels in its training targets; unchanged when not distilling."""
    if not config.distill.teacher:
        return prepared
    raise RuntimeError("distillation is being built")
