"""Where a run executes: precision choice and the CPU speed defaults (oneDNN, malloc) a training process gets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from models.engine.runtime import resolve_precision, tune_malloc

ROOT = Path(__file__).resolve().parents[2]

ONEDNN_PROBE = (
    "from models.engine.runtime import select_backend; select_backend('tensorflow'); "
    "from tensorflow.python.util import _pywrap_util_port as port; print(port.IsMklEnabled())"
)


def _probe(env_extra: dict[str, str]) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "KERAS_BACKEND")}
    env.update(env_extra, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", ONEDNN_PROBE], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_auto_precision_is_float32_on_cpu_and_mixed_on_gpu():
    assert resolve_precision("auto", device="cpu") == "float32"
    assert resolve_precision("auto", device="gpu") in ("mixed_bfloat16", "mixed_float16")
    assert resolve_precision("mixed_float16", device="cpu") == "mixed_float16"  # an explicit choice is kept


def test_selecting_tensorflow_turns_on_onednn_kernels():
    assert _probe({}) == "True"


def test_a_users_onednn_setting_wins():
    assert _probe({"TF_ENABLE_ONEDNN_OPTS": "0"}) == "False"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_malloc_tuning_applies_on_glibc_unless_the_user_set_malloc_variables(monkeypatch):
    assert tune_malloc() is True
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")
    assert tune_malloc() is False


@pytest.mark.backend
def test_auto_jit_turns_xla_on_for_fixed_shape_transformers_on_tensorflow():
    import keras

    from models import tasks
    from models.config import RunConfig
    from models.engine.compile import jit_setting

    fixed = tasks.names(lambda spec: spec.fixed_shapes)
    varied = tasks.names(lambda spec: not spec.fixed_shapes)
    assert fixed and varied
    on_cpu = (
        True if keras.backend.backend() == "tensorflow" else "auto"
    )  # JAX always compiles; torch stays off
    for name in fixed:
        config = RunConfig(task=name)
        config.model.kind = "transformer"
        assert jit_setting(config) == on_cpu
        config.train.jit_compile = False  # the user's own choice wins
        assert jit_setting(config) is False
        config.train.jit_compile = "auto"
        config.distribution = "data_parallel"  # Keras keeps XLA off under a tf.distribute strategy
        assert jit_setting(config) == "auto"
        config.distribution = "none"
        config.model.kind = "lstm"  # a loop: slow to compile, not measured
        assert jit_setting(config) == "auto"
    for name in varied:
        config = RunConfig(task=name)
        config.model.kind = "transformer"
        assert jit_setting(config) == "auto"
