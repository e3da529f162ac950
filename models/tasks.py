"""Per-task data preparation: from a RunConfig to tokenizer, label set and tf.data splits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data.loaders import load_dataset
from data.pipelines import (
    causal_lm_dataset,
    classification_dataset,
    encode_documents_for_lm,
    pack_for_classification,
)
from data.splits import split_corpus, split_frame
from data.stats import describe
from data.tokenizers import load_tokenizer, train_tokenizer
from models.config import RunConfig
from models.run_dir import RunDir


@dataclass
class PreparedData:
    """What the engine needs to fit and evaluate one run."""

    train_factory: Callable[[int], Any]  # epoch -> tf.data.Dataset of one shuffled pass
    val: Any | None
    test: Any | None
    batches_per_pass: int
    tokens_per_batch: int
    tokenizer: Any
    labels: list[str] | None = None
    test_arrays: tuple[np.ndarray, np.ndarray] | None = None  # classifier: (ids, label ids) for the report
    report: dict[str, Any] = field(default_factory=dict)


Preparer = Callable[[RunConfig, RunDir, Any], PreparedData]
PREPARERS: dict[str, Preparer] = {}


def register(task: str) -> Callable[[Preparer], Preparer]:
    def wrap(fn: Preparer) -> Preparer:
        PREPARERS[task] = fn
        return fn

    return wrap


def prepare(config: RunConfig, run: RunDir, tokenizer: Any | None = None) -> PreparedData:
    """Load, validate, split and tokenize the run's data; reuse ``tokenizer`` when given (resume, fine-tune)."""
    try:
        preparer = PREPARERS[config.task]
    except KeyError:
        raise ValueError(
            f"task '{config.task}' has no data preparation; known: {', '.join(PREPARERS)}"
        ) from None
    return preparer(config, run, tokenizer)


def tokenizer_for(config: RunConfig, run: RunDir, texts: list[str], given: Any | None) -> Any:
    """The given tokenizer, the run's saved one (on resume) or a new one trained on the training texts."""
    if given is not None:
        tokenizer = given
    elif (run.tokenizer_dir / "vocab.txt").exists():
        tokenizer = load_tokenizer(run.tokenizer_dir)
    else:
        tokenizer = train_tokenizer(config.tokenizer, texts)
    tokenizer.save(run.tokenizer_dir)
    return tokenizer


@register("causal_lm")
def prepare_causal_lm(config: RunConfig, run: RunDir, tokenizer: Any | None) -> PreparedData:
    d, t, m = config.data, config.train, config.model
    loaded = load_dataset(d.path, text_column=d.text_column, text_mode=d.text_mode, max_rows=d.max_rows)
    texts = loaded.frame["text"].tolist()
    if len(texts) == 1:
        parts = split_corpus(texts[0], d.val_fraction, d.test_fraction)
        train_texts, val_texts, test_texts = [parts.train], [parts.val], [parts.test]
    else:
        splits = split_frame(loaded.frame, d.val_fraction, d.test_fraction, seed=d.seed, stratify=False)
        train_texts, val_texts, test_texts = (
            s["text"].tolist() for s in (splits.train, splits.val, splits.test)
        )
    tokenizer = tokenizer_for(config, run, train_texts, tokenizer)
    streams = [encode_documents_for_lm(tokenizer, part) for part in (train_texts, val_texts, test_texts)]
    for name, stream in zip(("training", "validation"), streams[:2], strict=True):
        if len(stream) <= m.seq_len * (t.batch_size if name == "training" else 1):
            raise _too_small(loaded.source, name, len(stream), m.seq_len, t.batch_size)

    def train_factory(epoch: int) -> Any:
        return causal_lm_dataset(streams[0], m.seq_len, t.batch_size, shuffle=True, seed=t.seed, epoch=epoch)

    def eval_set(stream: np.ndarray) -> Any | None:
        if len(stream) <= m.seq_len:
            return None
        return causal_lm_dataset(
            stream, m.seq_len, t.batch_size, shuffle=False, seed=t.seed, drop_remainder=False
        )

    report = {
        "stats": describe(loaded),
        "warnings": loaded.warnings,
        "tokens": {"train": len(streams[0]), "val": len(streams[1]), "test": len(streams[2])},
        "vocab_size": tokenizer.vocab_size,
    }
    return PreparedData(
        train_factory=train_factory,
        val=eval_set(streams[1]),
        test=eval_set(streams[2]) or eval_set(streams[1]),
        batches_per_pass=count_batches(train_factory(0)),
        tokens_per_batch=t.batch_size * m.seq_len,
        tokenizer=tokenizer,
        report=report,
    )


@register("classifier")
def prepare_classifier(config: RunConfig, run: RunDir, tokenizer: Any | None) -> PreparedData:
    d, t, m = config.data, config.train, config.model
    loaded = load_dataset(
        d.path, text_column=d.text_column, label_column=d.label_column, need_labels=True, max_rows=d.max_rows
    )
    splits = split_frame(loaded.frame, d.val_fraction, d.test_fraction, seed=d.seed, stratify=True)
    labels = fixed_labels(run) or sorted(loaded.frame["label"].unique().tolist())
    tokenizer = tokenizer_for(config, run, splits.train["text"].tolist(), tokenizer)
    label_index = {label: i for i, label in enumerate(labels)}

    def encode(frame: Any) -> tuple[np.ndarray, np.ndarray, int]:
        ids, truncated = pack_for_classification(tokenizer, frame["text"].tolist(), m.seq_len)
        y = np.asarray([label_index[label] for label in frame["label"]], dtype=np.int32)
        return ids, y, truncated

    (tr_x, tr_y, tr_cut), (va_x, va_y, va_cut), (te_x, te_y, te_cut) = (
        encode(s) for s in (splits.train, splits.val, splits.test)
    )

    def train_factory(epoch: int) -> Any:
        return classification_dataset(tr_x, tr_y, t.batch_size, shuffle=True, seed=t.seed, epoch=epoch)

    def eval_set(x: np.ndarray, y: np.ndarray) -> Any | None:
        if len(x) == 0:
            return None
        return classification_dataset(x, y, t.batch_size, shuffle=False, seed=t.seed)

    truncated = tr_cut + va_cut + te_cut
    warnings = list(loaded.warnings) + list(splits.warnings)
    if truncated:
        warnings.append(
            f"{truncated} of {len(loaded.frame)} texts were longer than the model's sequence length "
            f"({m.seq_len} tokens) and were truncated; raise seq_len to keep more of each text."
        )
    report = {
        "stats": describe(loaded),
        "warnings": warnings,
        "rows": {"train": len(tr_x), "val": len(va_x), "test": len(te_x)},
        "truncated": truncated,
        "labels": labels,
        "vocab_size": tokenizer.vocab_size,
    }
    test_x, test_y = (te_x, te_y) if len(te_x) else (va_x, va_y)
    return PreparedData(
        train_factory=train_factory,
        val=eval_set(va_x, va_y),
        test=eval_set(test_x, test_y),
        batches_per_pass=count_batches(train_factory(0)),
        tokens_per_batch=t.batch_size * m.seq_len,
        tokenizer=tokenizer,
        labels=labels,
        test_arrays=(test_x, test_y),
        report=report,
    )


def fixed_labels(run: RunDir) -> list[str] | None:
    """Labels already recorded for this run (resume keeps the label ids stable)."""
    return run.labels() or None


def count_batches(dataset: Any) -> int:
    n = int(dataset.cardinality())
    if n >= 0:
        return n
    return sum(1 for _ in dataset)


def _too_small(source: str, split: str, tokens: int, seq_len: int, batch: int) -> Exception:
    from data.errors import DataError

    return DataError(
        f"the {split} split has only {tokens} tokens, fewer than one batch of {batch} x {seq_len} tokens",
        file=source,
        hint="use more text, a shorter sequence length, a smaller batch, or a larger validation fraction.",
    )
