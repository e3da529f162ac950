"""Data-parallel training through one config field, on two virtual CPU devices, for TensorFlow and JAX."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from models.run_dir import list_runs

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_data_parallel_trains_on_two_virtual_devices(tmp_path, sentiment_csv, backend):
    workspace = tmp_path / "ws"
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        PYTHONPATH=str(ROOT),
    )
    cmd = [
        sys.executable, "-m", "app", "--workspace", str(workspace), "train",
        "--task", "classifier", "--data", str(sentiment_csv), "--backend", backend,
        "--distribution", "data_parallel", "--tokenizer", "wordpiece", "--vocab-size", "200",
        "--seq-len", "32", "--batch-size", "16", "--epochs", "2", "--quiet",
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (summary,) = list_runs(workspace)
    assert summary.state == "completed"
    from models.run_dir import RunDir

    status = RunDir(summary.path).status()
    assert status["replicas"] == 2, status
    assert status["backend"] == backend


def test_torch_data_parallel_is_refused_with_advice(tmp_path, sentiment_csv):
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=str(ROOT))
    cmd = [
        sys.executable, "-m", "app", "--workspace", str(tmp_path / "ws"), "train", "--task", "classifier",
        "--data", str(sentiment_csv), "--backend", "torch", "--distribution", "data_parallel", "--quiet",
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "tensorflow or jax backend" in result.stderr
    assert "Traceback" not in result.stderr
