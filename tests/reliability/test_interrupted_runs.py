"""kill -9 a training process mid-epoch and mid-checkpoint-write: the run stays readable and resumes.

Each round starts `python -m app resume RUN` (what the UI's launcher runs) and SIGKILLs it: even rounds at a
random moment of an epoch after a checkpoint completed, odd rounds while a checkpoint's temp file is being
written. The last resume runs in this process. TEXTLAB_KILL_ROUNDS=N (default 2) and TEXTLAB_KILL_SEED make
a longer soak; each round costs one process start (TensorFlow import).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.run_dir import RunDir
from tests.conftest import make_corpus
from tests.reliability.helpers import ROOT, child_env, tiny_config

ROUNDS = int(os.environ.get("TEXTLAB_KILL_ROUNDS", "2"))


def _start(run: RunDir, workspace: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "app", "--workspace", str(workspace), "resume", str(run.path), "--quiet"],
            cwd=ROOT,
            env=child_env(KERAS_BACKEND=run.config().backend),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _temp_checkpoints(run: RunDir) -> list[Path]:
    return sorted(run.checkpoint_dir.glob(".tmp-*")) if run.checkpoint_dir.is_dir() else []


def _logged_steps(run: RunDir) -> int:
    return sum(1 for r in run.metrics() if r.get("kind") == "step")


def _kill_when(proc: subprocess.Popen, ready, log: Path, delay: float = 0.0, timeout: float = 240.0) -> None:
    """SIGKILL ``proc`` ``delay`` seconds after ``ready()`` turns true (polled every 2 ms)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(
                f"the training process ended before it was killed:\n{log.read_text()[-3000:]}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"training never reached the kill point:\n{log.read_text()[-3000:]}")
        time.sleep(0.002)
    time.sleep(delay)
    assert proc.poll() is None, "the run finished before the kill; raise max_steps"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _assert_readable(run: RunDir) -> int | None:
    """Every file of the run parses; returns the step of the checkpoint a resume would start from."""
    from models.engine.safe_load import load_keras_model

    run.config()  # RunConfig.load raises on a torn or invalid config.json
    json.loads(run.status_path.read_text(encoding="utf-8"))
    text = run.metrics_path.read_text(encoding="utf-8")
    assert text.endswith("\n"), f"metrics.jsonl ends mid-line: {text[-200:]!r}"
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"metrics.jsonl line {number} is torn: {line!r}") from None
    if run.checkpoint_state_path.exists():
        json.loads(run.checkpoint_state_path.read_text(encoding="utf-8"))
    assert run.summary().state == "interrupted"  # status says running, but its process is gone
    if not run.last_checkpoint.exists():
        return None
    import keras

    model = load_keras_model(run.last_checkpoint, compile=True)
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


@pytest.mark.slow
def test_sigkill_mid_epoch_and_mid_checkpoint_write_keeps_the_run_resumable(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    import keras

    corpus = make_corpus(tmp_path / "corpus.txt")
    config = tiny_config(workspace, corpus, task="causal_lm", backend=keras.backend.backend())
    config.train.epochs, config.train.max_steps, config.train.checkpoint_every = 20, 400, 1
    run = RunDir.create(config)
    log = tmp_path / "train.log"
    rng = random.Random(int(os.environ.get("TEXTLAB_KILL_SEED", "7")))
    stale: list[Path] = []  # temp checkpoints left by a kill, which the next resume must delete
    expected_start: int | None = None  # the step of the last complete checkpoint
    for round_ in range(ROUNDS):
        left_over = list(stale)
        proc = _start(run, workspace, log)
        writing = run.checkpoint_dir / f".tmp-{proc.pid}-last.keras"  # this process's checkpoint temp file

        def saved_one(start: int | None = expected_start) -> bool:  # this process completed a checkpoint
            return (run.checkpoint_state() or {}).get("step", 0) > (start or 0)

        if round_ % 2:  # mid-write: kill while a checkpoint's temp file exists
            _kill_when(proc, lambda: writing.exists() and run.last_checkpoint.exists(), log)  # noqa: B023
            stale += [writing] if writing.exists() else []
        else:  # mid-epoch: at a random moment after this process's first complete checkpoint
            _kill_when(proc, saved_one, log, delay=rng.uniform(0.0, 1.0))
        assert not any(p.exists() for p in left_over), (
            "resume did not remove the temp files of the killed run"
        )
        resumed = [r["step"] for r in run.metrics() if r.get("event") == "resumed"]
        if expected_start is not None:  # the resume continued from the last complete checkpoint
            assert resumed and resumed[-1] == expected_start, (resumed, expected_start)
        expected_start = _assert_readable(run)
        print(f"round {round_}: killed pid {proc.pid}; last complete checkpoint at step {expected_start}")
    assert stale, "no kill landed while a checkpoint was being written (rerun with more rounds)"

    # Finish in this process: a short remainder, so the test ends; resume must clean up and continue.
    from models.engine.train import resume

    config = run.config()
    config.train.max_steps = (expected_start or 0) + 3
    config.save(run.config_path)
    resume(run)
    assert run.status()["state"] == "completed", run.status()
    assert not any(p.exists() for p in stale) and not _temp_checkpoints(run)
    assert not [p.name for p in run.path.glob(".tmp-*")]
    resumed = [r["step"] for r in run.metrics() if r.get("event") == "resumed"]
    assert expected_start and resumed[-1] == expected_start
    steps = [r["step"] for r in run.metrics() if r.get("kind") == "step"]
    assert steps == sorted(steps) and len(steps) == len(set(steps)), (
        "metrics past a checkpoint were kept twice"
    )
    assert steps[-1] == config.train.max_steps
