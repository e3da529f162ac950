"""Helpers of the reliability tests: tiny run configs and the real app served in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from models.config import RunConfig

ROOT = Path(__file__).resolve().parents[2]
# A checkout with Python 3.11 is enough; the reliability tests run on whatever backend pytest runs on.
CHILD_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


def child_env(**extra: str) -> dict[str, str]:
    """Environment of a `python -m app` child: this checkout on PYTHONPATH, TensorFlow quiet."""
    env = dict(os.environ, **CHILD_ENV, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def tiny_config(
    workspace: Path, data: Path, task: str = "classifier", backend: str = "tensorflow"
) -> RunConfig:
    """The smallest transformer the engine trains in a few seconds."""
    config = RunConfig(task=task, backend=backend, workspace=str(workspace))
    config.data.path = str(data)
    m = config.model
    m.kind, m.preset, m.seq_len, m.hidden_dim, m.num_layers, m.num_heads, m.intermediate_dim = (
        "transformer",
        None,
        32,
        32,
        1,
        2,
        64,
    )
    t = config.train
    t.batch_size, t.epochs, t.learning_rate, t.warmup_ratio, t.log_every = 16, 1, 3e-3, 0.0, 1
    return config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AppServer:
    """`python -m app --workspace WS ui --port P [args]` in its own process group, stopped with SIGTERM."""

    def __init__(self, workspace: Path, *args: str) -> None:
        self.workspace = workspace
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workspace.mkdir(parents=True, exist_ok=True)
        self.log_path = workspace.parent / f"app-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "app",
                    "--workspace",
                    str(workspace),
                    "ui",
                    "--port",
                    str(self.port),
                    *args,
                ],
                cwd=ROOT,
                env=child_env(KERAS_BACKEND="tensorflow"),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the app exited early:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"the app did not answer on {self.url}:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
