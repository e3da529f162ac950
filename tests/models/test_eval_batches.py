"""Evaluation batches of a language model: larger than training's while their logits stay small; validation
during training capped to evenly spaced windows, the final evaluation whole."""

from __future__ import annotations

import numpy as np
import pytest

from data.corpus_stream import STREAM_MB_ENV
from data.errors import DataError
from models import tasks
from models.config import RunConfig
from models.run_dir import RunDir
from models.tasks.preparation import EVAL_LOGITS_BYTES, lm_eval_batch_size, validation_windows
from tests.conftest import make_corpus


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
    config.train.validation_tokens = 100  # one window: processes drop a partial batch, so a whole one
    assert validation_windows(config, batch=32) == 32


def test_a_validation_during_training_reads_at_most_its_token_cap():
    config = _config(seq_len=64)
    assert validation_windows(config) == 32_768 // 64  # the default cap
    config.train.validation_tokens = 100
    assert validation_windows(config) == 1  # less than a window: still one
    assert validation_windows(config, batch=16) == 1  # less than a batch: one partial batch
    config.train.validation_tokens = 32_768
    assert validation_windows(config, batch=48) == 480  # whole batches: 512 windows cut to 10 x 48
    for whole in (None, 0):
        config.train.validation_tokens = whole
        assert validation_windows(config) is None
    config.train.validation_tokens = -1
    with pytest.raises(DataError, match="validation_tokens is -1"):
        validation_windows(config)


@pytest.mark.parametrize("streamed", [False, True])
def test_a_language_models_validation_is_capped_and_its_final_evaluation_reads_the_whole_split(
    tmp_path, monkeypatch, streamed
):
    monkeypatch.setenv(STREAM_MB_ENV, "0" if streamed else "1000")
    config = RunConfig(task="causal_lm", workspace=str(tmp_path / "ws"))
    config.data.path = str(make_corpus(tmp_path / "c.txt", chars=40_000))
    config.data.test_fraction = 0.0  # the final evaluation then reads the validation split, whole
    config.tokenizer.kind = "char"
    config.model.seq_len, config.train.batch_size = 32, 8
    config.train.validation_tokens = 32 * 70  # 70 windows, cut to two evaluation batches of 32
    data = tasks.prepare(config, RunDir.create(config), None)

    def firsts(dataset):
        return np.concatenate([x[:, 0] for x, _ in dataset.as_numpy_iterator()])

    whole, capped = firsts(data.test), firsts(data.val)
    assert len(capped) == 64 and len(whole) > 100  # ~4,000 validation characters: 124 windows
    assert set(capped) <= set(whole) and capped[0] == whole[0]
    report = data.report["streamed"] if streamed else data.report
    assert report["validation_tokens_at_most"] == 64 * 32


def test_a_masked_language_models_validation_is_capped_too(tmp_path):
    config = RunConfig(task="masked_lm", workspace=str(tmp_path / "ws"))
    config.data.path = str(make_corpus(tmp_path / "c.txt", chars=40_000))
    config.tokenizer.kind = "char"
    config.model.seq_len, config.train.batch_size = 32, 8
    config.train.validation_tokens = 32 * 24  # three batches of 8
    data = tasks.prepare(config, RunDir.create(config), None)

    def rows(dataset):
        return sum(len(x) for x, _, _ in dataset.as_numpy_iterator())

    assert rows(data.val) == 24 and rows(data.test) > 100  # the test split (10%): every row
    assert data.report["validation_sequences_at_most"] == 24
