"""One causal-LM run over two processes on this machine (JAX: a localhost coordinator, one CPU device each),
each reading its own slice of every batch of the streamed corpus: the same losses in both, two replicas."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from data.corpus_stream import STREAM_MB_ENV
from models.processes import ADDRESSES_ENV, NUM_PROCESSES_ENV, PROCESS_ID_ENV
from models.run_dir import RunDir, list_runs
from tests.conftest import make_corpus

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_one_streamed_lm(tmp_path):
    corpus = tmp_path / "books"
    corpus.mkdir()
    for i in range(2):
        make_corpus(corpus / f"part{i}.txt", chars=20_000, seed=i)
    address = f"localhost:{_free_port()}"
    procs = []
    for index in range(2):  # one workspace each, as on two hosts
        env = dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="jax", **{STREAM_MB_ENV: "0",
                   ADDRESSES_ENV: address, NUM_PROCESSES_ENV: "2", PROCESS_ID_ENV: str(index)})  # fmt: skip
        env.pop("XLA_FLAGS", None)  # one CPU device per process
        cmd = [
            sys.executable, "-m", "app", "--workspace", str(tmp_path / f"ws{index}"), "train",
            "--task", "causal_lm", "--data", str(corpus), "--backend", "jax", "--distribution",
            "data_parallel", "--tokenizer", "char", "--seq-len", "32", "--batch-size", "16",
            "--max-steps", "12", "--quiet",
        ]  # fmt: skip
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()[-3000:]
    runs = [RunDir(list_runs(tmp_path / f"ws{i}")[0].path) for i in range(2)]
    for index, run in enumerate(runs):
        status = run.status()
        assert status["state"] == "completed" and status["replicas"] == 2, status
        assert status["process"] == [index, 2]
    losses = [[r["loss"] for r in run.metrics() if r.get("kind") == "step"] for run in runs]
    assert len(losses[0]) >= 2 and losses[0] == pytest.approx(losses[1], rel=1e-5)  # one synchronised model
    reports = [json.loads(run.data_report_path.read_text()) for run in runs]
    assert reports[0]["tokens"] == reports[1]["tokens"]


def test_a_task_that_cannot_span_processes_is_refused(tmp_path, sentiment_csv):
    env = dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="jax", **{ADDRESSES_ENV: f"localhost:{_free_port()}",
               NUM_PROCESSES_ENV: "2", PROCESS_ID_ENV: "0"})  # fmt: skip
    cmd = [
        sys.executable, "-m", "app", "--workspace", str(tmp_path / "ws"), "train", "--task", "classifier",
        "--data", str(sentiment_csv), "--backend", "jax", "--distribution", "data_parallel", "--quiet",
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot span several processes" in result.stderr and NUM_PROCESSES_ENV in result.stderr
    (summary,) = list_runs(tmp_path / "ws")
    assert summary.state == "failed"
