"""The task registry: one spec module per task (``models/tasks/<name>.py`` defining ``SPEC``); the engine,
CLI, UI, inference and export ask it instead of naming tasks."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from data.errors import DataError
from models.tasks.spec import CLASSIFY, GENERATE, TAG, PreparedData, TaskSpec

__all__ = [
    "CLASSIFY",
    "GENERATE",
    "TAG",
    "PreparedData",
    "TaskSpec",
    "default",
    "get",
    "names",
    "prepare",
    "specs",
]


def _discover() -> dict[str, TaskSpec]:
    """Every module of this package that defines SPEC is a task; the others (spec, preparation, ...) help."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if not hasattr(module, "SPEC"):
            continue
        spec = module.SPEC
        if not isinstance(spec, TaskSpec) or spec.name != info.name:
            raise RuntimeError(f"{__name__}.{info.name} must define SPEC = TaskSpec(name={info.name!r}, ...)")
        found.append(spec)
    return {spec.name: spec for spec in sorted(found, key=lambda s: (s.order, s.name))}


_REGISTRY = _discover()


def specs(where: Callable[[TaskSpec], bool] | None = None) -> tuple[TaskSpec, ...]:
    """Every task's spec in display order, or those for which ``where(spec)`` holds."""
    return tuple(s for s in _REGISTRY.values() if where is None or where(s))


def names(where: Callable[[TaskSpec], bool] | None = None) -> tuple[str, ...]:
    return tuple(s.name for s in specs(where))


def get(name: str) -> TaskSpec:
    """The spec of task ``name``; a DataError naming the known tasks otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DataError(
            f"task {name!r} is not a task.", hint=f"Use one of: {', '.join(_REGISTRY)}."
        ) from None


def default() -> TaskSpec:
    """The task a config gets when it names none."""
    return next(s for s in _REGISTRY.values() if s.default)


def prepare(config: Any, run: Any, tokenizer: Any | None = None) -> PreparedData:
    """Load, validate, split and tokenize the run's data; reuse ``tokenizer`` when given (resume, fine-tune)."""
    return get(config.task).prepare(config, run, tokenizer)
