"""A streamed corpus trains end to end: token shards cached in the workspace, reused by the next run and by a
resume, a folder of files as one corpus, and no in-memory file-size limit."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from data.corpus_stream import STREAM_MB_ENV
from data.loaders import MAX_FILE_MB_ENV
from models.engine.train import train
from models.run_dir import RunDir
from models.tasks import streamed_lm
from tests.conftest import make_corpus
from tests.models.test_engine import step_losses, tiny_config

pytestmark = pytest.mark.backend


@pytest.fixture
def corpus_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(STREAM_MB_ENV, "0")  # stream whatever the size
    monkeypatch.setenv(MAX_FILE_MB_ENV, "0.01")  # the in-memory limit (10 KB) must not apply to a stream
    folder = tmp_path / "books"
    folder.mkdir()
    for i in range(2):
        make_corpus(folder / f"part{i}.txt", chars=20_000, seed=i)
    return folder


def test_a_streamed_corpus_trains_and_the_next_run_reuses_its_tokens(tmp_path, corpus_dir):
    config = tiny_config(tmp_path, corpus_dir, "causal_lm", epochs=1, max_steps=30)
    run = train(config)
    assert run.status()["state"] == "completed", run.status()
    losses = step_losses(run)
    assert losses[-1] < losses[0] - 0.3
    report = run.eval_report()
    assert np.isfinite(report["perplexity"]) and report["perplexity"] < run.config().model.vocab_size / 2
    first = _report(run)
    assert first["streamed"]["cache"] == "written" and first["stats"] == {
        "files": 2,
        "bytes": _size(corpus_dir),
    }
    assert first["tokens"]["train"] > 30_000 and first["tokens"]["val"] > 0 and first["tokens"]["test"] > 0

    again = train(tiny_config(tmp_path, corpus_dir, "causal_lm", epochs=1, max_steps=2))
    second = _report(again)
    assert second["streamed"]["cache"] == "hit" and second["tokens"] == first["tokens"]
    assert (again.tokenizer_dir / "vocab.txt").read_text() == (run.tokenizer_dir / "vocab.txt").read_text()


def test_a_resume_reads_the_cache_or_re_encodes_with_its_own_tokenizer(tmp_path, corpus_dir):
    config = tiny_config(tmp_path, corpus_dir, "causal_lm", epochs=1, max_steps=2)
    run = train(config)
    shards, cache = streamed_lm.token_shards(run.config(), RunDir(run.path), None)
    assert cache == "hit"
    shutil.rmtree(shards.directory)
    again, cache = streamed_lm.token_shards(run.config(), RunDir(run.path), None)
    assert cache == "written" and again.tokenizer.vocabulary == shards.tokenizer.vocabulary
    assert again.meta["tokens"] == shards.meta["tokens"]


def _report(run: RunDir) -> dict:
    import json

    return json.loads(run.data_report_path.read_text())


def _size(folder) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.txt"))
