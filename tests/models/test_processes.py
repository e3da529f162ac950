"""Which slice of each batch a process reads, and the clear refusals of runs that cannot span processes."""

from __future__ import annotations

import pytest

from data.errors import DataError
from models.config import RunConfig
from models.processes import ADDRESSES_ENV, NUM_PROCESSES_ENV, PROCESS_ID_ENV, ProcessShard, process_shard


def _config(**kw) -> RunConfig:
    config = RunConfig(task=kw.pop("task", "causal_lm"), backend=kw.pop("backend", "jax"))
    config.distribution = kw.pop("distribution", "data_parallel")
    config.train.batch_size = kw.pop("batch_size", 32)
    return config


def _env(monkeypatch, count="2", index="1", address="localhost:1234"):
    monkeypatch.setenv(NUM_PROCESSES_ENV, count)
    monkeypatch.setenv(PROCESS_ID_ENV, index)
    monkeypatch.setenv(ADDRESSES_ENV, address)


def test_one_process_unless_the_environment_says_more(monkeypatch):
    monkeypatch.delenv(NUM_PROCESSES_ENV, raising=False)
    assert process_shard(_config()) == ProcessShard(0, 1)
    _env(monkeypatch)
    assert process_shard(_config()) == ProcessShard(1, 2)
    assert process_shard(_config(distribution="none")) == ProcessShard(0, 1)


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ({"backend": "torch"}, {}, "jax backend"),
        ({"batch_size": 33}, {}, "multiple of 2"),
        ({}, {"index": "2"}, "id below the count"),
        ({}, {"address": ""}, "coordinator's address"),
        ({}, {"count": "two"}, "whole numbers"),
    ],
)
def test_runs_that_cannot_span_processes_are_refused(monkeypatch, config, env, message):
    _env(monkeypatch, **env)
    with pytest.raises(DataError, match=message) as caught:
        process_shard(_config(**config))
    assert NUM_PROCESSES_ENV in str(caught.value) or message == "multiple of 2"
