"""Held-out model inputs of a run (its test split, as the engine prepared it) to verify an export on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from data.errors import DataError
from data.special_tokens import BOS, NUM_SPECIAL_TOKENS
from models import tasks
from models.config import RunConfig
from models.run_dir import RunDir


@dataclass
class HeldOut:
    """Model inputs and what they should predict."""

    ids: np.ndarray  # [N, seq_len] int32, exactly what the model sees
    targets: np.ndarray | None  # classifier: label ids [N]; causal LM: next token ids [N, seq_len]
    source: str  # where the examples came from, for the report
    weights: np.ndarray | None = None  # tagger: 1.0 at each word's first sub-token [N, seq_len], else 0


def held_out(run: RunDir, config: RunConfig, tokenizer: Any, limit: int = 200) -> HeldOut:
    """Up to ``limit`` examples of the run's test split (the validation split if the test split is empty).

    The split is rebuilt by models.tasks.prepare from config.json, so it is the one the run never trained
    on. If the data file cannot be read any more, random token ids still check the numerics.
    """
    try:
        prepared = tasks.prepare(config, run, tokenizer)
    except (DataError, OSError) as err:
        return _random_examples(config, limit, reason=str(err))
    interface = tasks.get(config.task).interface
    if interface in (tasks.CLASSIFY, tasks.TAG):
        if prepared.test_arrays is None or not len(prepared.test_arrays[0]):
            return _random_examples(config, limit, reason="the run's data has no held-out rows")
        ids, labels, *weights = prepared.test_arrays  # a tagger's arrays also say where each word starts
        return HeldOut(
            ids[:limit].astype(np.int32),
            labels[:limit].astype(np.int32),
            "held-out split",
            weights[0][:limit] if weights else None,
        )
    if prepared.test is None:
        return _random_examples(config, limit, reason="the run's data has no held-out text")
    xs, ys = [], []
    for x, y in prepared.test.unbatch().take(limit).as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    return HeldOut(np.stack(xs).astype(np.int32), np.stack(ys).astype(np.int32), "held-out split")


def _random_examples(config: RunConfig, limit: int, reason: str) -> HeldOut:
    """Random non-special ids (BOS first, as in training), with the reason the real data was not used."""
    seq_len, vocab = config.model.seq_len, config.model.vocab_size
    rng = np.random.default_rng(config.train.seed)
    count = min(limit, 32)
    stream = rng.integers(NUM_SPECIAL_TOKENS, vocab, size=(count, seq_len + 1), dtype=np.int32)
    stream[:, 0] = BOS
    targets = stream[:, 1:] if tasks.get(config.task).interface == tasks.GENERATE else None
    return HeldOut(stream[:, :seq_len], targets, f"random token ids ({reason})")
