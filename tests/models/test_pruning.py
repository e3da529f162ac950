"""Magnitude pruning: the schedule and masks, which weights, pruned classifier and LM runs end to end on each
backend, resume, a fitted (linear) run pruned once without a refit, export to LiteRT, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from app.cli import main
from data.errors import DataError
from models.architecture.builders import build_model
from models.architecture.presets import resolve_model_config
from models.config import ModelConfig, RunConfig
from models.engine import pruning
from models.engine.pruning import (
    magnitude_mask,
    prunable_weights,
    pruning_config,
    scheduled_sparsity,
    training_callbacks,
    zeros_for,
)
from models.engine.safe_load import load_keras_model
from models.engine.train import resume, run_training, train
from models.run_dir import RunDir
from tests.conftest import make_corpus, make_sentiment_csv

backend = pytest.mark.backend


def tiny_config(workspace: Path, data: Path, task: str, kind: str) -> RunConfig:
    config = RunConfig(task=task, backend=keras.backend.backend(), workspace=str(workspace), name=kind)
    config.data.path = str(data)
    config.tokenizer.kind = "char" if task == "causal_lm" else "wordpiece"
    config.tokenizer.vocab_size = 200
    m = config.model
    m.kind, m.preset, m.seq_len, m.hidden_dim, m.ngram_buckets = kind, None, 32, 16, 512
    m.num_layers, m.num_heads, m.intermediate_dim = 1, 2, 32
    t = config.train
    t.batch_size, t.learning_rate, t.warmup_ratio, t.log_every = 16, 3e-3, 0.0, 2
    t.epochs, t.max_steps = (2, None) if task == "classifier" else (1, 24)
    return config


def weights_by_path(model) -> dict[str, np.ndarray]:
    return {w.path: np.array(keras.ops.convert_to_numpy(w.value)) for w in model.weights}


def saved_weights(run: RunDir, path: Path | None = None) -> dict[str, np.ndarray]:
    return weights_by_path(load_keras_model(path or run.model_path, compile=False))


def prunable_paths(run: RunDir, path: Path | None = None) -> set[str]:
    model = load_keras_model(path or run.model_path, compile=False)
    return {w.path for w in prunable_weights(model, run.config().task)}


def assert_at_sparsity(run: RunDir, target: float) -> None:
    """Every prunable weight of the run's model has round(target * size) zeros, within one value; no other
    weight has more zeros than in the parent's model; eval.json and status.json report the same."""
    weights, chosen = saved_weights(run), prunable_paths(run)
    parent = saved_weights(RunDir.resolve(run.config().workspace, run.config().finetune.from_run))
    assert chosen, "nothing was pruned"
    for path, values in weights.items():
        zeros = int(np.count_nonzero(values == 0))
        if path in chosen:
            assert abs(zeros - zeros_for(target, values.size)) <= 1, (path, zeros, values.size)
        else:
            assert zeros <= np.count_nonzero(parent[path] == 0), (path, zeros, values.size)
    report = run.eval_report()["pruning"]
    assert report["target"] == target and report["sparsity"] == pytest.approx(target, abs=1e-3)
    assert set(report["weights"]) == chosen
    assert run.status()["pruning"]["sparsity"] == report["sparsity"]


@pytest.fixture(scope="module")
def bag_parent(tmp_path_factory) -> RunDir:
    """A tiny bag classifier (token + hashed-bigram tables: nearly all of its weights are prunable)."""
    root = tmp_path_factory.mktemp("bag")
    return completed(train(tiny_config(root / "ws", make_sentiment_csv(root / "s.csv"), "classifier", "bag")))


@pytest.fixture(scope="module")
def lm_parent(tmp_path_factory) -> RunDir:
    """A tiny Transformer causal LM: attention and feed-forward kernels, a tied embedding, positions, norms."""
    root = tmp_path_factory.mktemp("lm")
    return completed(train(tiny_config(root / "ws", make_corpus(root / "c.txt"), "causal_lm", "transformer")))


def completed(run: RunDir) -> RunDir:
    assert run.status()["state"] == "completed", run.status()
    return run


def prune(parent: RunDir, sparsity: float) -> RunDir:
    return completed(train(pruning_config(parent.config().workspace, parent.id, sparsity)))


# -- the pieces --------------------------------------------------------------------------------------------


def test_the_schedule_rises_as_a_cubic_to_the_target_and_then_holds():
    ramp = 100
    values = [scheduled_sparsity(step, 0.8, ramp) for step in range(0, 130)]
    assert values[0] == 0.0 and values[ramp] == values[-1] == 0.8
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert values[50] == pytest.approx(0.8 * (1 - 0.5**3))  # Zhu & Gupta: s_f (1 - (1 - t/T)^3)
    # Stepped: masks grow every 10 steps, at the value of the step that starts the stretch.
    assert scheduled_sparsity(57, 0.8, ramp, update_every=10) == pytest.approx(values[50])


def test_the_mask_zeros_exactly_the_smallest_magnitudes_and_zeros_come_first():
    values = np.array([[0.5, -0.1, 0.0], [2.0, -3.0, 0.05]])
    mask = magnitude_mask(values, 3)
    assert mask.tolist() == [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    tied = np.full((4, 5), 0.25)  # all equal: still exactly the asked number of zeros
    assert int((magnitude_mask(tied, 7) == 0).sum()) == 7
    assert zeros_for(0.5, 7) == 4 and zeros_for(0.9, 10) == 9


def test_matrices_are_pruned_not_biases_norms_positions_or_a_label_head():
    def chosen(task: str, kind: str, **fields) -> set[str]:
        cfg = ModelConfig(kind=kind, preset=None, vocab_size=60, num_classes=3, hidden_dim=8, **fields)
        cfg.num_layers, cfg.num_heads, cfg.intermediate_dim, cfg.seq_len = 1, 2, 16, 16
        model = build_model(resolve_model_config(cfg, task), task)
        return {w.path for w in prunable_weights(model, task)}

    layer = "transformer_layer_0/self_attention_layer"
    assert chosen("classifier", "transformer") == {
        "token_embedding/embeddings",
        *(f"{layer}/{p}/kernel" for p in ("query", "key", "value", "attention_output")),
        "transformer_layer_0/feedforward_intermediate_dense/kernel",
        "transformer_layer_0/feedforward_output_dense/kernel",
    }
    assert chosen("classifier", "bag", ngram_buckets=64) == {
        "token_embedding/embeddings",
        "bigram_embedding/embeddings",
    }
    assert chosen("token_classifier", "lstm") == {
        "token_embedding/embeddings",
        "lstm_0/lstm_cell/kernel",
        "lstm_0/lstm_cell/recurrent_kernel",
    }
    # A language model's untied output projection is a vocabulary-sized matrix: pruned.
    assert "logits/kernel" in chosen("causal_lm", "transformer", tie_embeddings=False)


def test_refusals_name_what_to_do(tmp_path):
    config = tiny_config(tmp_path / "ws", tmp_path / "s.csv", "classifier", "bag")
    run = RunDir.create(config)
    with pytest.raises(DataError, match="no trained model to prune"):
        pruning_config(config.workspace, run.id, 0.5)
    with pytest.raises(DataError, match="between 0 and 1"):
        pruning.check_sparsity(1.0)
    config.model.kind, config.prune.sparsity = "linear", 0.5  # a fitted kind, no parent: nothing to prune
    with pytest.raises(DataError, match="fit the run first"):
        training_callbacks(None, config, 10)


# -- pruned runs end to end on the current backend ------------------------------------------------------


@backend
@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_a_pruned_classifier_reaches_the_target_on_every_prunable_weight(bag_parent, sparsity):
    run = prune(bag_parent, sparsity)
    config = run.config()
    assert config.finetune.from_run == bag_parent.id and config.prune.sparsity == sparsity
    assert config.name == f"bag pruned {round(sparsity * 100)}%"
    assert config.train.learning_rate < bag_parent.config().train.learning_rate
    assert run.lineage()["head"] == "kept from parent" and run.labels() == bag_parent.labels()
    assert_at_sparsity(run, sparsity)
    report = run.eval_report()
    assert report["macro_f1"] > 0.0 and set(report["headline"]) == set(bag_parent.eval_report()["headline"])
    # The ramp ended within the first epoch: both epoch-end validations saw the full sparsity.
    epochs = [r for r in run.metrics() if r.get("kind") == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    # The parent is left as it was.
    assert not any(np.count_nonzero(v == 0) for v in saved_weights(bag_parent).values())


@backend
@pytest.mark.slow  # about a minute on JAX (compiling a Transformer), under 20 s elsewhere
def test_a_pruned_language_model_completes_and_reports_its_perplexity(lm_parent):
    run = prune(lm_parent, 0.5)
    assert_at_sparsity(run, 0.5)
    report, before = run.eval_report(), lm_parent.eval_report()
    vocab = run.config().model.vocab_size
    assert np.isfinite(report["perplexity"]) and report["perplexity"] < vocab
    assert report["perplexity"] < before["perplexity"] * 2, (before["perplexity"], report["perplexity"])
    pruned = report["pruning"]["weights"]
    assert "position_embedding/embeddings" not in pruned and "token_embedding/embeddings" in pruned


@backend
def test_every_checkpoint_is_masked_and_a_resumed_run_keeps_its_zeros(bag_parent, monkeypatch):
    """A checkpoint every step holds exactly the schedule's zeros at its step (the masks run before the
    monitor saves); stopped mid-ramp (a stop request after step 3), then resumed: every value that was zero in
    the stop's checkpoint is still zero at the end, and the end is at the target."""
    import models.engine.train as engine

    stop_at, target = 3, 0.9
    config = pruning_config(bag_parent.config().workspace, bag_parent.id, target)
    config.name, config.train.checkpoint_every = "resumed", 1
    run = RunDir.create(config)
    made, save = pruning.training_callbacks, engine.save_checkpoint
    saved: list[tuple[int, dict[str, int]]] = []

    def counting_save(model, run, state, path=None):
        step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        zeros = {
            w.path: int(np.count_nonzero(keras.ops.convert_to_numpy(w.value) == 0)) for w in model.weights
        }
        saved.append((step, zeros))
        save(model, run, state, path)

    def with_a_stop(model, config, total_steps):
        def ask(batch, logs=None):
            if int(keras.ops.convert_to_numpy(stopper.model.optimizer.iterations)) >= stop_at:
                run.request_stop()

        stopper = keras.callbacks.LambdaCallback(on_train_batch_end=ask)
        return [*made(model, config, total_steps), stopper]

    monkeypatch.setattr(engine, "save_checkpoint", counting_save)
    monkeypatch.setattr(pruning, "training_callbacks", with_a_stop)
    run_training(run)
    assert run.status()["state"] == "stopped" and run.status()["step"] - stop_at in (0, 1), run.status()
    at_stop = saved_weights(run, run.last_checkpoint)
    chosen = prunable_paths(run, run.last_checkpoint)
    zeros = {path: at_stop[path] == 0 for path in chosen}
    reached = sum(int(z.sum()) for z in zeros.values()) / sum(z.size for z in zeros.values())
    assert 0.1 < reached < 0.85, reached  # mid-ramp: the test means something

    monkeypatch.setattr(pruning, "training_callbacks", made)
    completed(resume(run))
    final = saved_weights(run)
    for path, was_zero in zeros.items():
        assert np.all(final[path][was_zero] == 0), path
    assert_at_sparsity(run, target)

    total = run.status()["total_steps"]
    ramp = pruning.ramp_steps(run.config(), total)
    every = -(-ramp // pruning.MASK_UPDATES)
    assert len(saved) > total, len(saved)  # one per step, and the epoch ends' and the best's
    for step, counts in saved:
        sparsity = scheduled_sparsity(step, target, ramp, every)
        for path in chosen:
            assert counts[path] == zeros_for(sparsity, at_stop[path].size), (step, path, counts[path])


# -- fitted kinds, export and the CLI (TensorFlow) -------------------------------------------------------


def test_a_fitted_linear_run_is_pruned_once_without_a_refit(tmp_path, monkeypatch):
    config = tiny_config(tmp_path / "ws", make_sentiment_csv(tmp_path / "s.csv"), "classifier", "linear")
    config.tokenizer.kind, config.model.seq_len = "ngrams", 256
    parent = completed(train(config))

    import models.engine.linear_fit as linear_fit

    def refit(*args, **kwargs):
        raise AssertionError("a pruned fitted run must not be refitted")

    monkeypatch.setattr(linear_fit, "fit_linear", refit)
    # 0.8: a two-class fit is one weight vector, written as its table's second column (the first is zeros)
    run = prune(parent, 0.8)
    assert_at_sparsity(run, 0.8)
    assert run.eval_report()["pruning"]["method"] == "one-shot magnitude"
    before, after = saved_weights(parent), saved_weights(run)
    chosen = prunable_paths(run)
    assert chosen == {"token_embedding/embeddings"}
    for path, values in before.items():
        if path in chosen:  # the kept half is the parent's fit, value for value: its larger half
            kept = after[path] != 0
            assert np.array_equal(after[path][kept], values[kept])
            assert np.abs(values[kept]).min() >= np.abs(values[~kept]).max()
        else:  # idf tables, the identity head: as fitted
            assert np.array_equal(after[path], values), path
    assert run.eval_report()["macro_f1"] >= parent.eval_report()["macro_f1"] - 0.2


def test_a_pruned_run_exports_and_agrees_with_keras_on_litert(bag_parent):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TFLite export runs on the TensorFlow backend only")
    from models.export import export_run

    run = prune(bag_parent, 0.9)
    dense, pruned = export_run(bag_parent), export_run(run)
    v = pruned.verification
    assert v["top1_agreement"] >= 0.99 and v["max_abs_logit_diff"] < 1e-3, v
    # model.tflite holds dense tensors: the same size; the zip deflates the zeros.
    assert abs(pruned.tflite_bytes - dense.tflite_bytes) < 1024
    assert pruned.zip_bytes < dense.zip_bytes * 0.75, (pruned.zip_bytes, dense.zip_bytes)


def test_the_cli_prunes_a_run_and_prints_the_sparsity(bag_parent, capsys):
    workspace = bag_parent.config().workspace
    argv = ["--workspace", workspace, "prune", "--from", bag_parent.id, "--sparsity", "0.8", "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "pruning: 80.0% of the prunable weights are zero" in out, out
    run = RunDir(Path(next(line for line in out.splitlines() if line.startswith("run: "))[5:]))
    assert json.loads(run.config_path.read_text())["prune"]["sparsity"] == 0.8
    assert_at_sparsity(run, 0.8)
