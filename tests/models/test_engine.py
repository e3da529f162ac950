"""The training engine on the current backend: loss falls, save/reload predicts the same, stop and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from data.errors import DataError
from models.config import RunConfig
from models.engine.evaluation import evaluate_saved_run
from models.engine.inference import classify, generate, load_run
from models.engine.safe_load import load_keras_model
from models.engine.train import resume, train
from models.run_dir import RunDir, list_runs

pytestmark = pytest.mark.backend
ROOT = Path(__file__).resolve().parents[2]


def tiny_config(tmp_path: Path, data: Path, task: str, **train_overrides) -> RunConfig:
    config = RunConfig(task=task, backend=keras.backend.backend(), workspace=str(tmp_path / "ws"))
    config.data.path = str(data)
    config.model.kind = "transformer"
    config.model.preset = None
    config.model.seq_len = 32
    config.model.hidden_dim = 32
    config.model.num_layers = 1
    config.model.num_heads = 2
    config.model.intermediate_dim = 64
    config.train.batch_size = 16
    config.train.epochs = 2
    config.train.learning_rate = 3e-3
    config.train.log_every = 2
    config.train.warmup_ratio = 0.0
    for key, value in train_overrides.items():
        setattr(config.train, key, value)
    return config


def step_losses(run: RunDir) -> list[float]:
    return [r["loss"] for r in run.metrics() if r.get("kind") == "step"]


def test_classifier_trains_saves_reloads_and_classifies(tmp_path, sentiment_csv):
    config = tiny_config(tmp_path, sentiment_csv, "classifier", epochs=5)
    config.tokenizer.kind = "wordpiece"
    config.tokenizer.vocab_size = 200
    run = train(config)

    status = run.status()
    assert status["state"] == "completed", status
    losses = step_losses(run)
    assert len(losses) >= 4
    assert losses[-1] < losses[0]
    saved = run.config()
    assert saved.model.num_classes == 2 and saved.model.vocab_size > 5
    assert run.labels() == ["neg", "pos"]
    epochs = [r for r in run.metrics() if r.get("kind") == "epoch"]
    assert len(epochs) == 5 and all(0 <= r["val_macro_f1"] <= 1 for r in epochs)  # the curve beside the loss

    report = run.eval_report()
    assert report["accuracy"] > 0.8
    assert len(report["confusion_matrix"]) == 2
    assert {"precision", "recall", "f1", "support"} <= set(report["per_class"]["pos"])
    # The classic baseline fitted on the same training split: one keyword decides, so it is near perfect.
    baseline = report["baseline"]
    assert baseline["name"] == "TF-IDF + logistic regression" and baseline["features"] == "word 1-2-grams"
    assert baseline["macro_f1"] > 0.9 and baseline["C"] in (1.0, 10.0, 100.0)
    assert report["macro_f1_over_baseline"] == pytest.approx(report["macro_f1"] - baseline["macro_f1"])

    # The saved model reloads in safe mode and predicts exactly as the in-memory reload did.
    loaded = load_run(run)
    texts = ["the movie was excellent and lovely", "a terrible and boring plot"]
    first, second = classify(loaded, texts), classify(load_run(run), texts)
    assert first == second
    assert set(first[0]) == {"neg", "pos"} and abs(sum(first[0].values()) - 1.0) < 1e-5
    assert [r.id for r in list_runs(config.workspace)] == [run.id]
    # No words, no answer (a model still labels [BOS] alone, confidently).
    with pytest.raises(DataError, match="the text is empty"):
        classify(loaded, ["   "])
    with pytest.raises(DataError, match="text 2 of 3 is empty"):
        classify(loaded, ["good", "", "bad"])
    # A completed run is not resumed: its history, duration and model stay as they are.
    before = (run.metrics_path.read_text(), run.status(), run.model_path.stat().st_mtime_ns)
    with pytest.raises(DataError, match="is completed: there is nothing to resume"):
        resume(run)
    assert (run.metrics_path.read_text(), run.status(), run.model_path.stat().st_mtime_ns) == before


def test_causal_lm_trains_and_generates(tmp_path, corpus_txt):
    config = tiny_config(tmp_path, corpus_txt, "causal_lm", epochs=1, max_steps=30)
    run = train(config)
    assert run.status()["state"] == "completed"
    losses = step_losses(run)
    assert losses[-1] < losses[0] - 0.3
    report = run.eval_report()
    vocab_size = run.config().model.vocab_size
    assert np.isfinite(report["perplexity"]) and report["perplexity"] < vocab_size / 2  # well below uniform

    loaded = load_run(run)
    greedy_a = generate(loaded, "The ", max_new_tokens=20, temperature=0)
    greedy_b = generate(load_run(run), "The ", max_new_tokens=20, temperature=0)
    assert greedy_a == greedy_b and len(greedy_a) > 0
    sampled = generate(loaded, "The ", max_new_tokens=20, temperature=1.0, top_k=5, seed=1)
    again = generate(load_run(run), "The ", max_new_tokens=20, temperature=1.0, top_k=5, seed=1)
    assert sampled == again, "a seeded sample must repeat"
    # Char tokenizer: one character per token, every one from the training text's vocabulary.
    assert 0 < len(sampled) <= 20 and set(sampled) <= set(loaded.tokenizer.vocabulary)
    records = run.metrics()
    assert {"loss", "learning_rate", "tokens_per_s", "elapsed_s", "step", "epoch"} <= set(records[0])
    # The final evaluation ran on the model in memory (its last epoch was the best): the saved model scores
    # the same on the same split.
    assert run.status()["best"]["step"] == 30
    again = evaluate_saved_run(run)
    assert again["loss"] == pytest.approx(report["loss"], rel=1e-5)


def test_several_steps_per_execution_train_every_step_of_every_epoch(tmp_path, corpus_txt):
    # 4 steps an epoch, 3 per compiled call: Keras reports an epoch's last call as ending at step 6; the
    # engine still counts 4, so the second epoch is not cut short and the run makes all 8 updates.
    if keras.backend.backend() == "torch":
        pytest.skip("Keras runs one step per call on PyTorch")
    config = tiny_config(tmp_path, corpus_txt, "causal_lm", epochs=2, max_steps=8, steps_per_epoch=4)
    config.train.steps_per_execution = 3
    config.train.jit_compile = False
    run = train(config)
    status = run.status()
    assert status["state"] == "completed" and status["step"] == 8, status
    assert [(r["epoch"], r["step"]) for r in run.metrics() if r.get("kind") == "epoch"] == [(1, 4), (2, 8)]
    model = load_keras_model(run.last_checkpoint, compile=True)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 8


def test_stop_request_saves_checkpoint_and_resume_finishes(tmp_path, sentiment_csv):
    config = tiny_config(tmp_path, sentiment_csv, "classifier", epochs=3)
    run = RunDir.create(config)
    from models.engine.train import run_training

    stopper = _StopAfterFirstLog(run)
    stopper.start()
    run_training(run)
    stopper.join()
    status = run.status()
    assert status["state"] == "stopped", status
    stopped_at = status["step"]
    assert run.last_checkpoint.exists() and 0 < stopped_at

    resume(run)
    assert run.status()["state"] == "completed"
    steps = [r["step"] for r in run.metrics() if r.get("kind") == "step"]
    assert steps == sorted(steps) and steps[-1] > stopped_at
    assert any(r.get("event") == "resumed" and r["step"] == stopped_at for r in run.metrics())
    # One validation point per epoch: the stop mid-epoch measured nothing, the resumed epoch did.
    assert [r["epoch"] for r in run.metrics() if r.get("kind") == "epoch"] == [1, 2, 3]
    # The TensorBoard copy was rebuilt from the kept records on resume: each step once, as in metrics.jsonl.
    from tests.models.test_tensorboard import assert_same_curves

    assert_same_curves(run)


def test_nan_loss_stops_with_message_and_keeps_checkpoint(tmp_path, sentiment_csv):
    config = tiny_config(tmp_path, sentiment_csv, "classifier", epochs=2, learning_rate=1e12, clip_norm=0.0)
    config.train.checkpoint_every = 1
    config.model.dropout = 0.0
    run = train(config)
    status = run.status()
    assert status["state"] == "failed"
    assert "loss became" in status["message"] and "lower the learning rate" in status["message"]


@pytest.mark.slow
def test_resume_after_kill_continues_step_count(tmp_path, corpus_txt):
    config = tiny_config(tmp_path, corpus_txt, "causal_lm", epochs=10, max_steps=120, checkpoint_every=10)
    run = RunDir.create(config)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--workspace", config.workspace, "resume", str(run.path), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while time.time() < deadline:
        state = run.checkpoint_state() or {}
        if state.get("step", 0) >= 20:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert run.last_checkpoint.exists(), "no checkpoint was written before the kill"
    for line in run.metrics_path.read_text().splitlines():
        json.loads(line)  # no torn line

    resume(run)
    status = run.status()
    assert status["state"] == "completed", status
    events = [r for r in run.metrics() if r.get("event") == "resumed"]
    assert len(events) == 1 and events[0]["step"] >= 20
    steps = [r["step"] for r in run.metrics() if r.get("kind") == "step"]
    assert steps == sorted(steps) and len(steps) == len(set(steps))
    assert steps[-1] == 120


class _StopAfterFirstLog:
    """Asks the run to stop as soon as it has logged a training step (as the UI's Stop button does)."""

    def __init__(self, run: RunDir) -> None:
        import threading

        self.run = run
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        self.thread.join(timeout=60)

    def _watch(self) -> None:
        deadline = time.time() + 120
        while time.time() < deadline:
            if any(r.get("kind") == "step" for r in self.run.metrics()):
                self.run.request_stop()
                return
            time.sleep(0.05)
