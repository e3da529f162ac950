"""Load .keras files in Keras safe mode only: a file that carries Python code is refused, never run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data.errors import DataError


def load_keras_model(path: str | Path, *, compile: bool) -> Any:
    """``keras.models.load_model(path, safe_mode=True)`` with our layers registered; a refusal becomes a
    DataError the CLI and the UI show as it is (Keras's own text tells users to turn safe mode off)."""
    import keras

    # Registering our layers, models and optimizer (package "textlab") lets our own files load in safe mode.
    import models.architecture.builders  # noqa: F401
    import models.engine.distill_loss  # noqa: F401
    import models.engine.optimizers  # noqa: F401

    try:
        return keras.models.load_model(path, compile=compile, safe_mode=True)
    except ValueError as err:
        if "safe_mode" not in str(err):
            raise
        raise DataError(
            "was refused: it contains Python code (for example a Lambda layer) that Keras safe mode does "
            "not load, so none of it was run.",
            file=str(path),
            hint="Only open models trained by keras-textlab. If you built this file yourself, rebuild the "
            "model without Lambda layers (or with registered custom layers) and save it again.",
        ) from None
