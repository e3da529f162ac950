"""The engine's monitor callback: one validation point per epoch across a stop, no ETA before it is timed, step gaps."""

from __future__ import annotations

import time

import keras
import numpy as np

from models.config import RunConfig
from models.engine.callbacks import EngineMonitor
from models.run_dir import RunDir


def _monitor(tmp_path, total_steps: int = 20) -> EngineMonitor:
    run = RunDir.create(RunConfig(workspace=str(tmp_path / "ws")))
    monitor = EngineMonitor(
        run,
        start_step=0,
        total_steps=total_steps,
        tokens_per_batch=8,
        log_every=1,
        checkpoint_every=1000,
        save_checkpoint=lambda step: None,
        started_at=0.0,
    )
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    monitor.set_model(model)
    return monitor


def _epochs(run: RunDir) -> list[tuple[int, int]]:
    return [(r["epoch"], r["step"]) for r in run.metrics() if r.get("kind") == "epoch"]


def test_a_stop_mid_epoch_logs_no_validation_point_and_the_resumed_epoch_logs_one(tmp_path) -> None:
    monitor = _monitor(tmp_path)
    monitor.begin_fit(0, end_step=10)
    for batch in range(4):
        monitor.on_train_batch_end(batch, {"loss": 1.0})
    monitor.stop_reason = "stopped"  # as after the Stop button; Keras still validates and ends the epoch
    monitor.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.9})
    assert _epochs(monitor.run) == [] and not monitor.fit_finished

    monitor.stop_reason = None  # the resumed process: the rest of epoch 1, then epoch 2
    monitor.begin_fit(0, end_step=10)
    for batch in range(6):
        monitor.on_train_batch_end(batch, {"loss": 0.8})
    monitor.on_epoch_end(0, {"loss": 0.8, "val_loss": 0.7})
    assert monitor.fit_finished and _epochs(monitor.run) == [(1, 10)]


def test_a_stop_on_the_last_step_of_an_epoch_still_logs_it(tmp_path) -> None:
    monitor = _monitor(tmp_path)
    monitor.begin_fit(0, end_step=3)
    for batch in range(3):
        monitor.on_train_batch_end(batch, {"loss": 1.0})
    monitor.stop_reason = "stopped"
    monitor.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.9})
    assert _epochs(monitor.run) == [(1, 3)]


def test_the_first_batch_of_a_fit_call_gives_no_eta(tmp_path) -> None:
    monitor = _monitor(tmp_path)
    monitor.run.write_status(eta_s=None)
    monitor.begin_fit(0, end_step=10)
    monitor.on_train_batch_end(0, {"loss": 1.0})  # compile and pipeline warm-up: not a rate
    steps = [r for r in monitor.run.metrics() if r.get("kind") == "step"]
    assert steps[-1]["eta_s"] is None and monitor.run.status()["eta_s"] is None
    monitor.on_train_batch_end(1, {"loss": 1.0})
    eta = monitor.run.status()["eta_s"]
    assert eta is not None and np.isfinite(eta) and eta >= 0


def test_epoch_records_carry_the_longest_step_gap_with_and_without_validation(tmp_path) -> None:
    monitor = _monitor(tmp_path)
    monitor.begin_fit(0, end_step=3)
    time.sleep(0.3)  # the first step compiles: the wait before it ends is not a gap
    monitor.on_train_batch_end(0, {"loss": 1.0})
    monitor.on_train_batch_end(1, {"loss": 1.0})
    monitor.on_train_batch_end(2, {"loss": 1.0})
    monitor.on_test_begin()
    time.sleep(0.25)  # epoch 1's validation pass...
    monitor.on_test_end()
    monitor.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.9})
    time.sleep(0.15)  # ...then checkpoints and a new iterator before epoch 2's first step
    monitor.begin_fit(1, end_step=5)
    monitor.on_train_batch_end(0, {"loss": 1.0})
    monitor.on_train_batch_end(1, {"loss": 1.0})
    monitor.on_epoch_end(1, {"loss": 1.0, "val_loss": 0.8})
    first, second = (r for r in monitor.run.metrics() if r.get("kind") == "epoch")
    # The compile wait excluded; epoch 1's validation is followed by no step of epoch 1.
    assert first["longest_step_gap_s"] < 0.2
    assert second["longest_step_gap_s"] >= 0.4
    assert 0.15 <= second["longest_step_gap_less_validation_s"] < 0.25 + 0.1
