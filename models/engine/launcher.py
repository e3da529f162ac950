"""Start training in a background process (one per run, so each run picks its own Keras backend)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from models.config import RunConfig
from models.run_dir import RunDir


def launch(config: RunConfig) -> RunDir:
    """Create the run directory and train it in a child process; returns at once."""
    run = RunDir.create(config)
    _spawn(run)
    return run


def launch_resume(run: RunDir) -> RunDir:
    """Continue a stopped or interrupted run in a child process."""
    if run.is_alive():
        return run
    run.clear_stop()
    run.write_status(state="queued", message="resuming")
    _spawn(run)
    return run


def _spawn(run: RunDir) -> subprocess.Popen:
    config = run.config()
    env = dict(os.environ, KERAS_BACKEND=config.backend, TF_CPP_MIN_LOG_LEVEL="2")
    root = Path(__file__).resolve().parents[2]  # the repository, so the child imports this checkout
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    log = open(run.log_path, "ab")  # noqa: SIM115  the child owns it
    # The engine's own entry point: resume continues from the last checkpoint, or starts a run that has none.
    process = subprocess.Popen(
        [sys.executable, "-m", "models.engine", str(run.path), "--resume"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=os.getcwd(),
        start_new_session=True,  # a Ctrl-C in the app's terminal does not kill training mid-write
    )
    log.close()
    return process  # the child records its own pid in status.json when it starts
