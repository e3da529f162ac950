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
