"""Managing runs: rename keeps the id, delete stops a running run first, "N more epochs" continues a run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main
from data.errors import DataError
from models.engine.manage import delete_run, extend_run, rename_run
from models.engine.train import resume, train
from models.run_dir import RunDir
from tests.models.test_engine import ROOT, tiny_config


def test_rename_sets_the_name_and_keeps_the_id(tmp_path, sentiment_csv):
    run = RunDir.create(tiny_config(tmp_path, sentiment_csv, "classifier"))
    rename_run(run, "  baseline   transformer ")
    assert run.config().name == "baseline transformer" and RunDir(run.path).id == run.id
    with pytest.raises(DataError, match="cannot be empty"):
        rename_run(run, "   ")


def test_n_more_epochs_continue_a_completed_run_from_its_checkpoint(tmp_path, sentiment_csv):
    run = train(tiny_config(tmp_path, sentiment_csv, "classifier", epochs=2))
    end = run.status()["step"]
    with pytest.raises(DataError, match="nothing to resume"):
        resume(run)
    assert main(["--workspace", str(tmp_path / "ws"), "extend", run.id, "--epochs", "1", "--quiet"]) == 0
    assert run.config().train.epochs == 3
    status = run.status()
    assert status["state"] == "completed" and status["step"] > end
    records = run.metrics()
    assert [r["epoch"] for r in records if r.get("kind") == "epoch"] == [1, 2, 3]
    assert any(r.get("event") == "resumed" and r["step"] == end for r in records)
    with pytest.raises(DataError, match="at least 1 more epoch"):
        extend_run(run, 0)


def test_more_epochs_raise_a_step_cap_by_as_many_epochs(tmp_path, sentiment_csv):
    run = RunDir.create(tiny_config(tmp_path, sentiment_csv, "classifier", epochs=2, max_steps=20))
    run.write_status(state="completed", step=20, epoch=2, trained_for={"epochs": 2, "max_steps": 20})
    extend_run(run, 2)
    assert (run.config().train.epochs, run.config().train.max_steps) == (4, 40)


def test_more_epochs_are_refused_where_they_change_nothing_or_epochs_are_left(tmp_path, sentiment_csv):
    config = tiny_config(tmp_path, sentiment_csv, "classifier")
    config.model.kind = "linear"
    fitted = RunDir.create(config)
    fitted.write_status(state="completed", step=1, epoch=1)
    with pytest.raises(DataError, match="fitted once in closed form"):
        extend_run(fitted, 1)
    stopped = RunDir.create(tiny_config(tmp_path, sentiment_csv, "classifier"))
    stopped.write_status(state="stopped", step=4, epoch=1)
    with pytest.raises(DataError, match="press Resume to finish them first"):
        extend_run(stopped, 1)


def test_delete_stops_a_running_run_first_and_names_its_fine_tunes(tmp_path, sentiment_csv):
    config = tiny_config(tmp_path, sentiment_csv, "classifier", epochs=200, checkpoint_every=5)
    run = RunDir.create(config)
    child = RunDir.create(tiny_config(tmp_path, sentiment_csv, "classifier"))
    child.write_status(from_run=run.id)
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "--workspace", config.workspace, "resume", str(run.path), "--quiet"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while int(run.status().get("step") or 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.status()["state"] == "running", run.status()
    assert delete_run(run, wait_s=60) == [child.id]
    assert not run.path.exists() and child.path.exists()
    assert process.wait(timeout=10) == 0  # it stopped when asked (a checkpoint saved), not killed


def test_delete_of_a_finished_run_does_not_wait(tmp_path, sentiment_csv):
    run = RunDir.create(tiny_config(tmp_path, sentiment_csv, "classifier"))
    run.write_status(state="completed", pid=os.getpid())  # a pid that is alive: the state says it is done
    started = time.monotonic()
    assert delete_run(run) == []
    assert not Path(run.path).exists() and time.monotonic() - started < 5


def test_the_cli_renames_and_deletes_only_when_told_yes(tmp_path, sentiment_csv, capsys):
    run = RunDir.create(tiny_config(tmp_path, sentiment_csv, "classifier"))
    workspace = str(tmp_path / "ws")
    assert main(["--workspace", workspace, "rename", run.id, "my best run"]) == 0
    assert run.config().name == "my best run"
    assert main(["--workspace", workspace, "delete", run.id]) == 2  # no terminal to ask: refused
    assert "add --yes" in capsys.readouterr().err and run.path.exists()
    assert main(["--workspace", workspace, "delete", run.id, "--yes"]) == 0
    assert not run.path.exists() and f"deleted {run.id}" in capsys.readouterr().out
