"""Manage runs on disk: rename, delete (a running run is stopped first) and train a completed run N more epochs."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

from data.errors import DataError
from models.config import FITTED_KINDS
from models.run_dir import ACTIVE_STATES, RunDir, list_runs


def rename_run(run: RunDir, name: str) -> RunDir:
    """Set the run's display name (config.json ``name``); its id, the folder other runs and exports refer
    to, stays as it is."""
    name = " ".join((name or "").split())
    if not name:
        raise DataError("a run's name cannot be empty", hint="type the new name, then press Rename.")
    config = run.config()
    config.name = name
    config.save(run.config_path)
    return run


def delete_run(run: RunDir, wait_s: float = 60.0) -> list[str]:
    """Remove the run's folder; a run still training is asked to stop first (ended if it does not within
    ``wait_s``). Returns the ids of runs fine-tuned from it: they keep their own weights, but their lineage
    now names a run that is gone."""
    if run.summary().state in ACTIVE_STATES and run.is_alive():
        _stop_and_wait(run, wait_s)
    children = [s.id for s in list_runs(run.path.parent.parent) if s.from_run in (run.id, str(run.path))]
    try:
        shutil.rmtree(run.path)
    except OSError as err:
        raise DataError(
            f"could not be deleted ({err.strerror or err}).",
            file=str(run.path),
            hint="close programs using its files (an open export, a terminal in the folder) and try again.",
        ) from err
    return children


def extend_run(run: RunDir, more_epochs: int) -> RunDir:
    """Raise a completed run's epochs by ``more_epochs`` (and its step cap by as many epochs' steps), so
    that resuming it trains that much longer from its last checkpoint (train.require_resumable)."""
    from models.engine.train import require_resumable

    if more_epochs < 1:
        raise DataError("train at least 1 more epoch", hint="set the number of epochs to 1 or more.")
    state = run.summary().state
    if state in ACTIVE_STATES:
        raise DataError(f"run '{run.id}' is {state}", hint="wait for it to finish, or stop it first.")
    if state != "completed":
        require_resumable(run)  # a stopped or interrupted run has epochs left: Resume finishes them
        raise DataError(
            f"run '{run.id}' is {state}: it has not finished the epochs it was given",
            hint="press Resume to finish them first; then train it more epochs.",
        )
    config = run.config()
    if config.model.kind in FITTED_KINDS:
        raise DataError(
            f"run '{run.id}' is a {config.model.kind} model, fitted once in closed form: more epochs change "
            "nothing",
            hint="start a new run with other settings (Train again with these settings) instead.",
        )
    status = run.status()
    if config.train.max_steps is not None:
        step = int(status.get("step") or 0)
        per_epoch = max(1, step // max(1, int(status.get("epoch") or config.train.epochs)))
        config.train.max_steps = step + per_epoch * more_epochs
    config.train.epochs = (
        int((status.get("trained_for") or {}).get("epochs") or config.train.epochs) + more_epochs
    )
    config.save(run.config_path)
    return run


def _stop_and_wait(run: RunDir, wait_s: float) -> None:
    """Ask the run to stop (it saves a checkpoint), then end its process if it has not stopped in time."""
    run.request_stop()
    deadline = time.monotonic() + wait_s
    while run.is_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    pid = run.status().get("pid")
    if run.is_alive() and pid:
        os.kill(int(pid), signal.SIGTERM)
        for _ in range(50):
            if not run.is_alive():
                return
            time.sleep(0.1)
        os.kill(int(pid), signal.SIGKILL)


def folder_size(path: str | Path) -> int:
    """Bytes of every file under ``path`` (what deleting it frees)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
