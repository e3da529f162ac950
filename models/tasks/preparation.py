"""Data preparation shared by the task specs: tokenizer reuse, LM text splits, label sets, PreparedData."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from data.conll import ConllDataset, is_conll_path, load_conll
from data.errors import DataError
from data.loaders import load_configured
from data.splits import split_corpus, split_frame
from data.stats import describe
from data.tokenizers import load_tokenizer, train_tokenizer
from models.config import RunConfig
from models.processes import process_shard
from models.run_dir import RunDir
from models.tasks.spec import PreparedData


def tokenizer_for(config: RunConfig, run: RunDir, texts: list[str], given: Any | None) -> Any:
    """The given tokenizer, the run's saved one (on resume) or a new one trained on the training texts."""
    if has_saved_tokenizer(run):  # resume, evaluate, export: the run's own tokenizer, never rewritten
        return load_tokenizer(run.tokenizer_dir)
    tokenizer = given if given is not None else train_tokenizer(config.tokenizer, texts)
    tokenizer.save(run.tokenizer_dir)
    return tokenizer


def has_saved_tokenizer(run: RunDir) -> bool:
    """True when the run saved its tokenizer. Both files: a kill between the two writes of a first start leaves
    a tokenizer to retrain, not to load."""
    return all((run.tokenizer_dir / name).exists() for name in ("vocab.txt", "tokenizer.json"))


def lm_texts(config: RunConfig) -> tuple[Any, list[list[str]]]:
    """The LM source (a LoadedDataset or ConllDataset) and its [train, val, test] texts.

    One document (a corpus) is cut by characters; several are split by rows. A CoNLL file's sentences
    are documents too, so a tagger's corpus can be pretrained on.
    """
    d = config.data
    if (
        config.tokenizer.kind == "word_features"
    ):  # a word's slots are read together, never predicted one by one
        raise DataError(
            "the word-feature tokenizer is for taggers and classifiers; a language model predicts tokens one "
            "at a time, which it cannot do with a word's form, affixes and shape.",
            hint="choose the char or wordpiece tokenizer for language models.",
        )
    if is_conll_path(d.path):
        loaded: Any = load_conll(d.path, max_sentences=d.max_rows)
        texts = [" ".join(words) for words in loaded.sentences]
    else:
        loaded = load_configured(d, need_labels=False)
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


def pack_stream(stream: np.ndarray, seq_len: int) -> np.ndarray:
    """A flat token stream -> ``[N, seq_len]`` rows of ``[BOS] + seq_len - 1`` tokens; the last row is padded."""
    # TensorFlow loads when data is prepared, not when the task registry is read.
    from data.pipelines import pack_token_lists

    body = seq_len - 1
    pieces = [stream[i : i + body].tolist() for i in range(0, len(stream), body)]
    return pack_token_lists(pieces, seq_len)[0] if pieces else np.zeros((0, seq_len), dtype=np.int32)


EVAL_LOGITS_BYTES = 64 << 20  # one evaluation batch's float32 logits at most


def lm_eval_batch_size(config: RunConfig, vocab_size: int) -> int:
    """Rows per validation/test batch of a language model: up to 4x the training batch while the batch's
    logits stay under 64 MB. Evaluation keeps no gradients, and fewer, larger calls cut a validation pass
    by about a fifth on a 2-core CPU (1.6 s instead of 2.0 s for 100k characters at 4 x 128), time during
    which training waits. Processes training together keep the training batch: they drop a partial batch,
    and a small validation split must still fill one."""
    rows = config.train.batch_size
    if process_shard(config).count > 1:
        return rows
    per_batch = rows * config.model.seq_len * max(1, vocab_size) * 4
    return rows * max(1, min(4, EVAL_LOGITS_BYTES // per_batch))


def validation_windows(config: RunConfig, batch: int = 1) -> int | None:
    """How many seq_len windows a language model's validation during training reads: ``train.validation_tokens``
    over the window length (at least one), cut to whole evaluation batches of ``batch`` rows when it fills one
    (one batch shape is one XLA compilation); None: the whole validation split."""
    tokens = config.train.validation_tokens
    if tokens is not None and tokens < 0:
        raise DataError(
            f"train.validation_tokens is {tokens}: it counts tokens.",
            hint="give a positive number (--validation-tokens 32768), or 0 to validate on the whole split.",
        )
    if not tokens:
        return None
    windows = max(1, tokens // config.model.seq_len)
    if windows >= batch:
        return windows // batch * batch
    return batch if process_shard(config).count > 1 else windows  # processes together drop a partial batch


def held_out_set(examples: int, build: Callable[[], Any]) -> Any | None:
    """``build()`` when the split has examples; None for an empty split (nothing to validate or test on)."""
    return build() if examples > 0 else None


def prepared(
    config: RunConfig, train_factory: Callable[[int], Any], tokenizer: Any, **fields: Any
) -> PreparedData:
    """PreparedData with the fields every task computes the same way (batches per pass, tokens per batch)."""
    return PreparedData(
        train_factory=train_factory,
        batches_per_pass=count_batches(train_factory(0)),
        tokens_per_batch=config.train.batch_size * config.model.seq_len,
        tokenizer=tokenizer,
        **fields,
    )


def checked_labels(
    config: RunConfig, run: RunDir, found: list[str], source: str, *, ordered: bool = False
) -> list[str]:
    """The run's label list: the recorded one if any (then every label in the data must be in it), else the
    data's labels (sorted, or in the given order when ``ordered``).

    A recorded list exists on resume (label ids stay stable) and for a fine-tune that keeps its parent's head
    (it starts with the parent's labels.json)."""
    fixed = run.labels() or None
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


def too_small(source: str, split: str, tokens: int, seq_len: int, batch: int) -> DataError:
    return DataError(
        f"the {split} split has only {tokens} tokens, fewer than one batch of {batch} x {seq_len} tokens",
        file=source,
        hint="use more text, a shorter sequence length, a smaller batch, or a larger validation fraction.",
    )
