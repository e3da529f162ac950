"""A learning rate that blows the model up stops the run with a message and keeps only finite checkpoints."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from models.engine.safe_load import load_keras_model
from models.run_dir import RunDir
from tests.conftest import make_sentiment_csv
from tests.reliability.helpers import tiny_config


def _blow_up(tmp_path: Path, learning_rate: float) -> RunDir:
    import keras

    from models.engine.train import train

    config = tiny_config(
        tmp_path / "ws", make_sentiment_csv(tmp_path / "s.csv"), backend=keras.backend.backend()
    )
    config.train.learning_rate, config.train.clip_norm, config.train.epochs = learning_rate, 0.0, 2
    config.train.checkpoint_every, config.model.dropout = 1, 0.0
    return train(config)


def _checkpoint_step_and_weights(run: RunDir) -> tuple[int, list[np.ndarray]]:
    import keras

    model = load_keras_model(run.last_checkpoint, compile=True)
    weights = [keras.ops.convert_to_numpy(w) for w in model.weights]
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations)), weights


def test_nan_loss_keeps_a_finite_loadable_checkpoint_from_before_it(tmp_path: Path) -> None:
    """lr=1e12: the first update is huge but finite, and the loss of the next step is NaN."""
    run = _blow_up(tmp_path, 1e12)
    status = run.status()
    assert status["state"] == "failed" and status["pid"] is None
    message = status["message"]
    assert re.search(r"the training loss became (nan|inf) at step \d+", message), message
    assert "lower the learning rate" in message and "Traceback" not in message
    failed_at = int(re.search(r"at step (\d+)", message).group(1))
    kept = int(re.search(r"last good checkpoint \(step (\d+)\) was kept", message).group(1))

    step, weights = _checkpoint_step_and_weights(run)
    assert step == kept == run.checkpoint_state()["step"] and 0 < step < failed_at
    assert all(np.isfinite(w).all() for w in weights)
    assert not run.model_path.exists()  # no "final" model is made from a failed run
    logged = [r["step"] for r in run.metrics() if r.get("kind") == "step"]
    assert logged and max(logged) < failed_at  # the NaN step is not charted as a loss


def test_weights_that_overflow_while_the_loss_is_finite_are_never_saved(tmp_path: Path) -> None:
    """lr=1e39 overflows float32: the step's loss (measured before its update) is finite, its weights are not."""
    with pytest.warns(RuntimeWarning, match="overflow"):
        run = _blow_up(tmp_path, 1e39)
    status = run.status()
    assert status["state"] == "failed"
    assert "the model weights became NaN or infinite at step 1" in status["message"]
    assert "no checkpoint had been written" in status["message"]
    if run.last_checkpoint.exists():  # whatever is on disk must be loadable and finite
        _, weights = _checkpoint_step_and_weights(run)
        assert all(np.isfinite(w).all() for w in weights)
