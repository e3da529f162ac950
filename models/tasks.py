"""Per-task data preparation: from a RunConfig to tokenizer, label set and tf.data splits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data.conll import ConllDataset, is_conll_path, load_conll
from data.errors import DataError
from data.loaders import load_dataset
from data.pipelines import (
    causal_lm_dataset,
    classification_dataset,
    encode_documents_for_lm,
    masked_lm_dataset,
    pack_for_classification,
    pack_token_lists,
)
from data.splits import split_corpus, split_frame
from data.stats import describe
from data.token_alignment import align_words, token_classification_dataset
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
    # classifier: (ids, label ids); token_classifier: (ids, tag ids, weights) for the report
    test_arrays: tuple[np.ndarray, ...] | None = None
    test_tags: list[list[str]] | None = None  # token_classifier: gold word tags of the test sentences
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
    # Both files: a kill between the two writes of a first start leaves a tokenizer to retrain, not to load.
    saved = all((run.tokenizer_dir / name).exists() for name in ("vocab.txt", "tokenizer.json"))
    if saved:  # resume, evaluate, export: the run's own tokenizer, never rewritten
        return load_tokenizer(run.tokenizer_dir)
    tokenizer = given if given is not None else train_tokenizer(config.tokenizer, texts)
    tokenizer.save(run.tokenizer_dir)
    return tokenizer


def lm_texts(config: RunConfig) -> tuple[Any, list[list[str]]]:
    """The LM source (a LoadedDataset or ConllDataset) and its [train, val, test] texts.

    One document (a corpus) is cut by characters; several are split by rows. A CoNLL file's sentences
    are documents too, so a tagger's corpus can be pretrained on.
    """
    d = config.data
    if is_conll_path(d.path):
        loaded: Any = load_conll(d.path, max_sentences=d.max_rows)
        texts = [" ".join(words) for words in loaded.sentences]
    else:
        loaded = load_dataset(d.path, text_column=d.text_column, text_mode=d.text_mode, max_rows=d.max_rows)
        texts = loaded.frame["text"].tolist()
    if len(texts) == 1:
        parts = split_corpus(texts[0], d.val_fraction, d.test_fraction)
        return loaded, [[parts.train], [parts.val], [parts.test]]
    frame = pd.DataFrame({"text": texts}) if isinstance(loaded, ConllDataset) else loaded.frame
    splits = split_frame(frame, d.val_fraction, d.test_fraction, seed=d.seed, stratify=False)
    return loaded, [s["text"].tolist() for s in (splits.train, splits.val, splits.test)]


def lm_report(loaded: Any, tokenizer: Any, **counts: Any) -> dict[str, Any]:
    stats = describe(loaded) if not isinstance(loaded, ConllDataset) else {"sentences": len(loaded.sentences)}
    return {"stats": stats, "warnings": loaded.warnings, **counts, "vocab_size": tokenizer.vocab_size}


@register("causal_lm")
def prepare_causal_lm(config: RunConfig, run: RunDir, tokenizer: Any | None) -> PreparedData:
    t, m = config.train, config.model
    loaded, (train_texts, val_texts, test_texts) = lm_texts(config)
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

    tokens = {"train": len(streams[0]), "val": len(streams[1]), "test": len(streams[2])}
    return PreparedData(
        train_factory=train_factory,
        val=eval_set(streams[1]),
        test=eval_set(streams[2]) or eval_set(streams[1]),
        batches_per_pass=count_batches(train_factory(0)),
        tokens_per_batch=t.batch_size * m.seq_len,
        tokenizer=tokenizer,
        report=lm_report(loaded, tokenizer, tokens=tokens),
    )


MASK_RATE = 0.15  # BERT: 15% of the tokens are selected; of those 80% [MASK], 10% random, 10% kept


@register("masked_lm")
def prepare_masked_lm(config: RunConfig, run: RunDir, tokenizer: Any | None) -> PreparedData:
    """Documents joined by [EOS] into one stream, cut into ``[BOS] + (seq_len - 1)`` token rows; the
    tf.data map draws fresh BERT masks per batch and epoch (data.pipelines.masked_lm_dataset)."""
    t, m = config.train, config.model
    if m.kind != "transformer":
        raise DataError(
            f"masked language modelling needs a Transformer, but model.kind is {m.kind!r}: an LSTM reads "
            "left to right, so it cannot use the words after a [MASK].",
            hint="pretrain the LSTM with --objective causal_lm, or use --model transformer for masked_lm.",
        )
    loaded, parts = lm_texts(config)
    tokenizer = tokenizer_for(config, run, parts[0], tokenizer)
    rows = [pack_stream(encode_documents_for_lm(tokenizer, part), m.seq_len) for part in parts]
    if len(rows[0]) < t.batch_size:
        raise _too_small(loaded.source, "training", int((rows[0] != 0).sum()), m.seq_len, t.batch_size)
    if len(rows[1]) == 0:
        raise _too_small(loaded.source, "validation", 0, m.seq_len, 1)
    vocab = tokenizer.vocab_size

    def train_factory(epoch: int) -> Any:
        return masked_lm_dataset(
            rows[0],
            t.batch_size,
            vocab_size=vocab,
            mask_rate=MASK_RATE,
            shuffle=True,
            seed=t.seed,
            epoch=epoch,
        )

    def eval_set(ids: np.ndarray) -> Any | None:
        if len(ids) == 0:
            return None
        # Fixed masks (shuffle off, epoch 0): every evaluation scores the same masked positions.
        return masked_lm_dataset(
            ids,
            t.batch_size,
            vocab_size=vocab,
            mask_rate=MASK_RATE,
            shuffle=False,
            seed=t.seed,
            drop_remainder=False,
        )

    counts = {"train": len(rows[0]), "val": len(rows[1]), "test": len(rows[2])}
    return PreparedData(
        train_factory=train_factory,
        val=eval_set(rows[1]),
        test=eval_set(rows[2]) or eval_set(rows[1]),
        batches_per_pass=count_batches(train_factory(0)),
        tokens_per_batch=t.batch_size * m.seq_len,
        tokenizer=tokenizer,
        report=lm_report(loaded, tokenizer, sequences=counts, mask_rate=MASK_RATE),
    )


def pack_stream(stream: np.ndarray, seq_len: int) -> np.ndarray:
    """A flat token stream -> ``[N, seq_len]`` rows of ``[BOS] + seq_len - 1`` tokens; the last row is padded."""
    body = seq_len - 1
    pieces = [stream[i : i + body].tolist() for i in range(0, len(stream), body)]
    return pack_token_lists(pieces, seq_len)[0] if pieces else np.zeros((0, seq_len), dtype=np.int32)


@register("classifier")
def prepare_classifier(config: RunConfig, run: RunDir, tokenizer: Any | None) -> PreparedData:
    d, t, m = config.data, config.train, config.model
    loaded = load_dataset(
        d.path, text_column=d.text_column, label_column=d.label_column, need_labels=True, max_rows=d.max_rows
    )
    splits = split_frame(loaded.frame, d.val_fraction, d.test_fraction, seed=d.seed, stratify=True)
    labels = checked_labels(config, run, loaded.frame["label"].unique().tolist(), loaded.source)
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


@register("token_classifier")
def prepare_token_classifier(config: RunConfig, run: RunDir, tokenizer: Any | None) -> PreparedData:
    """CoNLL sentences -> sub-word rows; each word's tag sits on its first sub-token (data.token_alignment)."""
    d, t, m = config.data, config.train, config.model
    if not is_conll_path(d.path):
        raise DataError(
            "token classification reads CoNLL files (token<TAB>tag per line, a blank line between sentences).",
            file=d.path,
            hint="save the tagged data as a .conll file.",
        )
    data = load_conll(d.path, max_sentences=d.max_rows)
    frame = pd.DataFrame({"text": [" ".join(words) for words in data.sentences]})
    splits = split_frame(frame, d.val_fraction, d.test_fraction, seed=d.seed, stratify=False)
    tags = checked_labels(config, run, data.tag_set, data.source, ordered=True)
    tag_index = {tag: i for i, tag in enumerate(tags)}
    tokenizer = tokenizer_for(config, run, splits.train["text"].tolist(), tokenizer)

    def encode(part: pd.DataFrame) -> tuple[Any, list[list[str]]]:
        rows = part.index.tolist()  # positions in data.sentences (frame has a RangeIndex)
        sentences = [data.sentences[r] for r in rows]
        gold = [data.tags[r] for r in rows]
        tag_ids = [[tag_index[tag] for tag in sentence] for sentence in gold]
        return align_words(tokenizer, sentences, tag_ids, m.seq_len), gold

    (train, _), (val, _), (test, test_gold) = (encode(s) for s in (splits.train, splits.val, splits.test))
    if len(test.ids) == 0:
        test, test_gold = encode(splits.val)
    if len(train.ids) < t.batch_size:
        raise DataError(
            f"only {len(train.ids)} training sentences, fewer than one batch of {t.batch_size}.",
            file=data.source,
            hint="use more sentences or a smaller batch size.",
        )

    def train_factory(epoch: int) -> Any:
        return token_classification_dataset(train, t.batch_size, shuffle=True, seed=t.seed, epoch=epoch)

    def eval_set(aligned: Any) -> Any | None:
        return (
            token_classification_dataset(aligned, t.batch_size, shuffle=False) if len(aligned.ids) else None
        )

    truncated = train.truncated_words + val.truncated_words + test.truncated_words
    warnings = list(data.warnings)
    if truncated:
        warnings.append(
            f"{truncated} words of long sentences did not fit in the sequence length ({m.seq_len} tokens) "
            "and were cut; they count as tagged O in the evaluation. Raise seq_len to keep them."
        )
    report = {
        "stats": {"sentences": len(data.sentences), "words": sum(map(len, data.sentences))},
        "entities": data.entity_counts(),
        "warnings": warnings,
        "rows": {"train": len(train.ids), "val": len(val.ids), "test": len(test.ids)},
        "truncated_words": truncated,
        "labels": tags,
        "vocab_size": tokenizer.vocab_size,
    }
    return PreparedData(
        train_factory=train_factory,
        val=eval_set(val),
        test=eval_set(test),
        batches_per_pass=count_batches(train_factory(0)),
        tokens_per_batch=t.batch_size * m.seq_len,
        tokenizer=tokenizer,
        labels=tags,
        test_arrays=(test.ids, test.labels, test.weights),
        test_tags=test_gold,
        report=report,
    )


def fixed_labels(run: RunDir) -> list[str] | None:
    """Labels already recorded for this run (resume keeps the label ids stable; a fine-tune that keeps
    its parent's head starts with the parent's labels.json)."""
    return run.labels() or None


def checked_labels(
    config: RunConfig, run: RunDir, found: list[str], source: str, *, ordered: bool = False
) -> list[str]:
    """The run's label list: the recorded one if any (then every label in the data must be in it), else the
    data's labels (sorted, or in the given order when ``ordered``)."""
    fixed = fixed_labels(run)
    if fixed is None:
        return list(found) if ordered else sorted(found)
    extra = sorted(set(found) - set(fixed))
    if extra:
        origin = (
            f"run '{config.finetune.from_run}' (fine-tuning keeps its head and label ids)"
            if config.finetune.from_run
            else "this run's labels.json"
        )
        raise DataError(
            f"has label(s) {', '.join(map(repr, extra[:10]))} that {origin} does not know; its labels are "
            f"{', '.join(map(repr, fixed[:20]))}.",
            file=source,
            hint="use the same label names as the run you start from, or fine-tune from a language-model run "
            "to get a fresh head for a new label set.",
        )
    return fixed


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
