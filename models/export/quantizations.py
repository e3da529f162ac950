"""The weight formats an export can be written in (a module of its own so the UI lists them cheaply)."""

from __future__ import annotations

QUANTIZATIONS: tuple[str, ...] = ("float32", "float16", "int8")
