"""Export a finished run to a bundle: TFLite or ONNX model, vocabulary, labels, metadata and a verification report.

``export_run`` is imported lazily, so ``python -m models.export.run_bundle`` (the reference runner) never
loads TensorFlow or Keras.
"""

from __future__ import annotations

from typing import Any

__all__ = ["QUANTIZATIONS", "ExportReport", "export_run", "export_runs"]

from models.export.quantizations import QUANTIZATIONS


def __getattr__(name: str) -> Any:
    if name in ("ExportReport", "export_run", "export_runs"):
        from models.export import exporter

        return getattr(exporter, name)
    raise AttributeError(f"module 'models.export' has no attribute {name!r}")
