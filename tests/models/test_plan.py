"""Before a run starts: the steps it will take (and where a step cap cuts it) and its time from a measured run."""

from __future__ import annotations

import time
from pathlib import Path

from app.ui import forms
from models.config import RunConfig
from models.engine.plan import measured_rate, planned_steps
from models.run_dir import RunDir


def _config(tmp_path: Path, **train) -> RunConfig:
    config = RunConfig(task="classifier", workspace=str(tmp_path / "ws"))
    config.data.path = "/data/sms.csv"
    config.model.kind = "transformer"
    config.train.epochs, config.train.batch_size = 10, 16
    for key, value in train.items():
        setattr(config.train, key, value)
    return config


def test_steps_follow_the_split_batch_and_epochs_and_a_cap_is_named(tmp_path):
    plan = planned_steps(_config(tmp_path), rows=480)  # 384 training rows at 0.1 + 0.1 held out
    assert (plan.per_epoch, plan.total, plan.capped_at_epoch) == (24, 240, None)
    capped = planned_steps(_config(tmp_path, max_steps=100), rows=480)
    assert (capped.total, capped.capped_at_epoch) == (100, 4.2)
    lm = _config(tmp_path)
    lm.task = "causal_lm"
    assert planned_steps(lm, rows=480) is None  # its examples are windows of tokens, not rows
    fitted = _config(tmp_path)
    fitted.model.kind = "linear"
    assert planned_steps(fitted, rows=480) is None and planned_steps(_config(tmp_path), None) is None


def _measured_run(config: RunConfig, steps_per_s: float, duration_s: float) -> RunDir:
    """A completed run as training leaves it: step records with their measured rate, a duration."""
    run = RunDir.create(config)
    for step in range(2, 42, 2):
        run.log_metrics({"kind": "step", "step": step, "loss": 1.0, "steps_per_s": steps_per_s})
    now = time.time()
    run.write_status(state="completed", step=40, started=now - duration_s)
    return run


def test_the_time_comes_from_a_finished_run_of_the_same_model_batch_and_backend(tmp_path):
    config = _config(tmp_path)
    text = forms.run_length(config, 480)
    assert "24 per epoch × 10 epochs = 240" in text and "shown once the first steps are timed" in text
    other = _config(tmp_path)
    other.train.batch_size = 64  # another batch: another step time
    _measured_run(other, 99.0, 10.0)
    assert measured_rate(config) is None
    run = _measured_run(_config(tmp_path), 4.0, 30.0)  # 40 steps at 4/s = 10 s: 20 s outside the steps
    rate = measured_rate(config)
    assert rate.run_id == run.id and rate.steps_per_s == 4.0 and 19 < rate.overhead_s < 21
    text = forms.run_length(config, 480)  # 240 steps / 4 per s + 20 s
    assert "about 1m 20s in all" in text and run.id in text
    capped = forms.run_length(_config(tmp_path, max_steps=100), 480)
    assert "Max steps 100 stops training in epoch 4.2 of 10" in capped and "set Max steps to 0" in capped
