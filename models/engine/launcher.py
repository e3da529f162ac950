"""Start training in a background process (one per run, so each run picks its own Keras backend)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from models.config import RunConfig
from models.run_dir import RunDir


def launch(config: RunConfig) -> RunDir:
    """Create the run directory and train it in a child process; returns at once."""
    run = RunDir.create(config)
    _spawn(run)
    return run


def launch_resume(run: RunDir) -> RunDir:
    """Continue a stopped or interrupted run in a child process (a completed one is refused)."""
    from models.engine.train import require_resumable

    if run.is_alive():
        return run
    require_resumable(run)
    run.clear_stop()
    run.write_status(state="queued", message="resuming", eta_s=None)  # the stopped run's ETA is stale
    _spawn(run)
    return run


def launch_search(config: RunConfig, trials: int, minutes: float, keep: set[str]) -> Path:
    """Start models.engine.search in a child process; returns the path of its saved base config at once
    (the trials appear as runs, the ranking in <workspace>/searches/)."""
    folder = Path(config.workspace) / "searches"
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-config.json"
    config.save(base)
    command = ["-m", "models.engine.search", str(base), "--trials", str(trials), "--minutes", str(minutes)]
    _child([*command, "--keep", ",".join(sorted(keep))], config.backend, base.with_suffix(".log"))
    return base


def _spawn(run: RunDir) -> subprocess.Popen:
    # The engine's own entry point: resume continues from the last checkpoint, or starts a run that has none.
    return _child(["-m", "models.engine", str(run.path), "--resume"], run.config().backend, run.log_path)


def _child(arguments: list[str], backend: str, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    root = Path(__file__).resolve().parents[2]  # the repository, so the child imports this checkout
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    log = open(log_path, "ab")  # noqa: SIM115  the child owns it
    process = subprocess.Popen(
        [sys.executable, *arguments],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=os.getcwd(),
        start_new_session=True,  # a Ctrl-C in the app's terminal does not kill training mid-write
    )
    log.close()
    return process  # the child records its own pid in status.json when it starts
