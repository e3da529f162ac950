"""Causal language modelling: predict each next token of raw text; the task that generates."""

from __future__ import annotations

import math
from dataclasses import astuple
from typing import Any

import numpy as np

from data import corpus_stream
from models.config import RunConfig
from models.processes import process_shard
from models.run_dir import RunDir
from models.tasks import streamed_lm
from models.tasks.preparation import (
    held_out_set,
    lm_eval_batch_size,
    lm_report,
    lm_texts,
    prepared,
    tokenizer_for,
    too_small,
    validation_windows,
)
from models.tasks.spec import GENERATE, HEAD_LANGUAGE_MODEL, PreparedData, TaskSpec


def prepare(config: RunConfig, run: RunDir, tokenizer: Any | None) -> PreparedData:
    """Documents joined by [EOS] into one token stream per split, cut into shifted windows of seq_len."""
    if corpus_stream.streams(config.data):  # a plain-text corpus too large to hold: token shards on disk
        return streamed_lm.prepare(config, run, tokenizer)
    # TensorFlow loads when data is prepared, not when the task registry is read.
    from data.pipelines import IN_ORDER, EpochOrder, causal_lm_dataset, encode_documents_for_lm

    t, m = config.train, config.model
    part = astuple(process_shard(config))  # (index, count): this process's slice of every batch
    loaded, (train_texts, val_texts, test_texts) = lm_texts(config)
    tokenizer = tokenizer_for(config, run, train_texts, tokenizer)
    streams = [encode_documents_for_lm(tokenizer, part) for part in (train_texts, val_texts, test_texts)]
    for name, stream in zip(("training", "validation"), streams[:2], strict=True):
        if len(stream) <= m.seq_len * (t.batch_size if name == "training" else 1):
            raise too_small(loaded.source, name, len(stream), m.seq_len, t.batch_size)

    def train_factory(epoch: int) -> Any:
        return causal_lm_dataset(
            streams[0], m.seq_len, t.batch_size, EpochOrder(seed=t.seed, epoch=epoch), shard=part
        )

    eval_rows = lm_eval_batch_size(config, tokenizer.vocab_size)

    def eval_set(stream: np.ndarray, windows: int | None = None) -> Any | None:
        return held_out_set(
            len(stream) - m.seq_len,
            lambda: causal_lm_dataset(
                stream,
                m.seq_len,
                eval_rows,
                IN_ORDER,
                drop_remainder=part[1] > 1,
                shard=part,
                max_windows=windows,
            ),
        )

    tokens = {"train": len(streams[0]), "val": len(streams[1]), "test": len(streams[2])}
    windows = validation_windows(config, eval_rows)
    return prepared(
        config,
        train_factory,
        tokenizer,
        val=eval_set(streams[1], windows),  # the final evaluation reads a whole split
        test=eval_set(streams[2]) or eval_set(streams[1]),
        report=lm_report(
            loaded, tokenizer, tokens=tokens, validation_tokens_at_most=windows and windows * m.seq_len
        ),
    )


def evaluate(model: Any, data: PreparedData, run: RunDir) -> dict[str, Any]:
    """Mean next-token cross-entropy, perplexity and token accuracy on the test stream."""
    if data.test is None:
        return {"note": "no held-out text to evaluate on"}
    results = model.evaluate(data.test, return_dict=True, verbose=0)
    loss = float(results["loss"])
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),
        "token_accuracy": float(results.get("accuracy", float("nan"))),
        "split": "test",
    }


SPEC = TaskSpec(
    name="causal_lm",
    label="Language model (generate text)",
    summary="predict the next token of raw text; generates text and pretrains backbones",
    prepare=prepare,
    evaluate=evaluate,
    head=HEAD_LANGUAGE_MODEL,
    headline=("perplexity", "loss"),
    order=20,
    causal=True,
    pretrains=True,
    interface=GENERATE,
    exportable=True,
    spans_processes=True,
    fixed_shapes=True,
)
