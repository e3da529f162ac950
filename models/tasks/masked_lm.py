"""Masked language modelling (BERT-style): recover masked tokens from both sides; pretrains encoders."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from data.errors import DataError
from models.config import RunConfig
from models.run_dir import RunDir
from models.tasks import causal_lm
from models.tasks.preparation import (
    held_out_set,
    lm_report,
    lm_texts,
    pack_stream,
    prepared,
    tokenizer_for,
    too_small,
    validation_windows,
)
from models.tasks.spec import HEAD_LANGUAGE_MODEL, PreparedData, TaskSpec

MASK_RATE = 0.15  # BERT: 15% of the tokens are selected; of those 80% [MASK], 10% random, 10% kept


def prepare(config: RunConfig, run: RunDir, tokenizer: Any | None) -> PreparedData:
    """Documents joined by [EOS] into one stream, cut into ``[BOS] + (seq_len - 1)`` token rows; the
    tf.data map draws fresh BERT masks per batch and epoch (data.pipelines.masked_lm_dataset)."""
    # TensorFlow loads when data is prepared, not when the task registry is read.
    from data.pipelines import EpochOrder, encode_documents_for_lm, masked_lm_dataset, spread

    t, m = config.train, config.model
    if m.kind == "lstm":
        raise DataError(
            "masked language modelling needs a Transformer or a bag, but model.kind is 'lstm': an LSTM "
            "reads left to right, so it cannot use the words after a [MASK].",
            hint=f"pretrain the LSTM with --objective {causal_lm.SPEC.name}, or use --model transformer.",
        )
    loaded, parts = lm_texts(config)
    tokenizer = tokenizer_for(config, run, parts[0], tokenizer)
    rows = [pack_stream(encode_documents_for_lm(tokenizer, part), m.seq_len) for part in parts]
    if len(rows[0]) < t.batch_size:
        raise too_small(loaded.source, "training", int((rows[0] != 0).sum()), m.seq_len, t.batch_size)
    if len(rows[1]) == 0:
        raise too_small(loaded.source, "validation", 0, m.seq_len, 1)

    def batches(ids: np.ndarray, *, train: bool, epoch: int = 0) -> Any:
        # Held-out sets: fixed masks (shuffle off, epoch 0), so every evaluation scores the same positions.
        return masked_lm_dataset(
            ids,
            t.batch_size,
            EpochOrder(shuffle=train, seed=t.seed, epoch=epoch),
            vocab_size=tokenizer.vocab_size,
            mask_rate=MASK_RATE,
            drop_remainder=train,
        )

    def eval_set(ids: np.ndarray) -> Any | None:
        return held_out_set(len(ids), lambda: batches(ids, train=False))

    windows = validation_windows(config, t.batch_size)  # rows of seq_len, as a causal LM's windows

    counts = {"train": len(rows[0]), "val": len(rows[1]), "test": len(rows[2])}
    return prepared(
        config,
        lambda epoch: batches(rows[0], train=True, epoch=epoch),
        tokenizer,
        val=eval_set(spread(rows[1], windows)),  # the final evaluation reads a whole split
        test=eval_set(rows[2]) or eval_set(rows[1]),
        report=lm_report(
            loaded,
            tokenizer,
            sequences=counts,
            mask_rate=MASK_RATE,
            validation_sequences_at_most=windows,
        ),
    )


def evaluate(model: Any, data: PreparedData, run: RunDir) -> dict[str, Any]:
    """Cross-entropy, perplexity and accuracy over the masked positions only (fixed masks on held-out text).

    Computed here rather than by model.evaluate, whose per-batch means would weigh a batch with few
    masked tokens like one with many."""
    if data.test is None:
        return {"note": "no held-out text to evaluate on"}
    total_nll, correct, count = 0.0, 0, 0
    for x, y, weight in data.test.as_numpy_iterator():
        selected = weight > 0
        if not selected.any():
            continue
        logits = np.asarray(model.predict_on_batch(x), dtype=np.float64)[selected]
        targets = y[selected]
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        total_nll -= float(log_probs[np.arange(len(targets)), targets].sum())
        correct += int((logits.argmax(axis=-1) == targets).sum())
        count += int(len(targets))
    if count == 0:
        return {"note": "the held-out text has no maskable tokens"}
    loss = total_nll / count
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50.0)),
        "token_accuracy": correct / count,
        "masked_tokens": count,
        "split": "test",
    }


SPEC = TaskSpec(
    name="masked_lm",
    label="Masked language model (pretrain for fine-tuning)",
    summary="recover masked tokens from both sides (BERT-style); pretrains Transformer encoders",
    prepare=prepare,
    evaluate=evaluate,
    head=HEAD_LANGUAGE_MODEL,
    headline=("perplexity", "loss"),
    order=30,
    weighted_loss=True,
    pretrains=True,
)
