"""Evaluation batches of a language model: larger than training's while their logits stay small."""

from __future__ import annotations

from models.config import RunConfig
from models.tasks.preparation import EVAL_LOGITS_BYTES, lm_eval_batch_size


def _config(batch: int = 32, seq_len: int = 64) -> RunConfig:
    config = RunConfig()
    config.train.batch_size, config.model.seq_len = batch, seq_len
    return config


def test_a_small_vocabulary_evaluates_four_training_batches_at_a_time():
    assert lm_eval_batch_size(_config(), vocab_size=65) == 128


def test_a_large_vocabulary_keeps_the_logits_under_the_limit_and_never_goes_below_the_training_batch():
    rows = lm_eval_batch_size(_config(batch=32, seq_len=64), vocab_size=4000)
    assert rows == 64 and rows * 64 * 4000 * 4 <= EVAL_LOGITS_BYTES
    assert lm_eval_batch_size(_config(batch=64, seq_len=512), vocab_size=50_000) == 64


def test_processes_training_together_keep_the_training_batch(monkeypatch):
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "0")
    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "localhost:1234")
    config = _config()
    config.distribution, config.backend = "data_parallel", "jax"
    assert lm_eval_batch_size(config, vocab_size=65) == 32
