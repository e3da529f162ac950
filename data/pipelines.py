"""tf.data pipelines from numpy token ids for causal LM, masked LM and classification (tf ops only).

Every builder returns ONE epoch, fully determined by its ``EpochOrder(seed, epoch)``: rows are permuted in numpy
with ``np.random.default_rng(seed + epoch)`` before ``from_tensor_slices``, so the order does not depend on TF's
global seed, and ``skip_batches`` resumes mid-epoch by slicing the permuted arrays. Build a new dataset for
each epoch. Inputs are in-memory numpy arrays, so ``cache()`` would only copy them: it is not used; the
masked-LM map must stay un-cached anyway so each epoch draws new masks. Map functions use ``tf`` ops only,
so the same datasets feed the TensorFlow, JAX and PyTorch backends.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from data.errors import DataError
from data.special_tokens import BOS, EOS, MASK, NUM_SPECIAL_TOKENS, PAD
from data.text_pieces import batches, pieces
from data.token_shards import TokenFile
from data.tokenizers.base import Tokenizer

# Causal-LM windows: non-overlapping windows of seq_len + 1 tokens, starting at a per-epoch random offset
# in [0, seq_len) when shuffling (offset 0 otherwise), so every epoch sees different window boundaries. The
# window count does not depend on the offset, so every training epoch has the same number of batches.


def lm_windows(
    token_ids: np.ndarray, seq_len: int, *, offset: int = 0, count: int | None = None
) -> np.ndarray:
    """Non-overlapping windows ``[n, seq_len + 1]`` of a flat stream starting at ``offset``; window i
    covers tokens ``offset + i*seq_len ... offset + (i+1)*seq_len`` (consecutive windows share one token,
    so each next-token pair is used exactly once). ``count`` caps the number of windows."""
    stream = np.asarray(token_ids, dtype=np.int32).reshape(-1)
    starts = lm_window_starts(len(stream), seq_len, offset=offset, count=count)
    return stream[starts[:, None] + np.arange(seq_len + 1)[None, :]].reshape(len(starts), seq_len + 1)


def lm_window_starts(length: int, seq_len: int, *, offset: int = 0, count: int | None = None) -> np.ndarray:
    """Where ``lm_windows``' windows start in a stream of ``length`` tokens (int64)."""
    fits = max(0, (length - offset - 1) // seq_len)
    return offset + np.arange(fits if count is None else min(count, fits), dtype=np.int64) * seq_len


def chunk_ids(token_ids: np.ndarray, seq_len: int) -> np.ndarray:
    """Cut a flat stream into ``[n, seq_len]`` rows (the tail that does not fill a row is dropped),
    e.g. to feed ``masked_lm_dataset`` from a corpus."""
    stream = np.asarray(token_ids, dtype=np.int32).reshape(-1)
    count = len(stream) // seq_len
    return stream[: count * seq_len].reshape(count, seq_len)


def encode_documents_for_lm(tokenizer: Tokenizer, texts: Iterable[str]) -> np.ndarray:
    """One flat int32 stream: the documents' ids with [EOS] between consecutive documents.

    Documents are encoded in whitespace-cut pieces, a bounded batch per call (``data.text_pieces``): the same
    ids as whole documents, with memory bounded by the batch instead of the corpus."""
    eos = np.array([EOS], dtype=np.int32)
    parts: list[np.ndarray] = []
    for group in batches(_pieces_between_boundaries(texts)):
        encoded = iter(tokenizer.encode_batch([piece for piece in group if piece is not None]))
        parts.extend(eos if piece is None else np.asarray(next(encoded), dtype=np.int32) for piece in group)
    return np.concatenate(parts) if parts else np.zeros((0,), dtype=np.int32)


def _pieces_between_boundaries(texts: Iterable[str]) -> Iterator[str | None]:
    """Each document's pieces, with None (an [EOS]) between consecutive documents."""
    for i, text in enumerate(texts):
        if i:
            yield None
        yield from pieces(str(text))


def pack_token_lists(token_lists: Iterable[list[int]], seq_len: int) -> tuple[np.ndarray, int]:
    """``[BOS] + ids`` cut to ``seq_len`` and padded with [PAD]; returns ``(ids[N, seq_len], truncated)``."""
    rows = list(token_lists)
    packed = np.full((len(rows), seq_len), PAD, dtype=np.int32)
    truncated = 0
    for i, ids in enumerate(rows):
        body = ids[: seq_len - 1]
        truncated += len(ids) > seq_len - 1
        packed[i, 0] = BOS
        packed[i, 1 : 1 + len(body)] = body
    return packed, int(truncated)


def pack_for_classification(
    tokenizer: Tokenizer, texts: Iterable[str], seq_len: int
) -> tuple[np.ndarray, int]:
    """Encode and pack texts for a classifier: ``(ids[N, seq_len] int32, number_truncated)``."""
    return pack_token_lists(tokenizer.encode_batch(list(texts)), seq_len)


@dataclass(frozen=True)
class EpochOrder:
    """Which pass over the rows a dataset yields: permuted by ``(seed, epoch)`` or in order, from batch
    ``skip_batches`` on (a mid-epoch resume)."""

    shuffle: bool = True
    seed: int = 1337
    epoch: int = 0
    skip_batches: int = 0

    def rows(self, n: int, batch_size: int) -> np.ndarray:
        """The row indices of this pass, the skipped batches left out."""
        order = np.random.default_rng(self.seed + self.epoch).permutation(n) if self.shuffle else np.arange(n)
        return order[self.skip_batches * batch_size :]


SHUFFLED = EpochOrder()
IN_ORDER = EpochOrder(shuffle=False)


def epoch_batches(
    rows: np.ndarray | tuple[np.ndarray, ...],
    batch_size: int,
    order: EpochOrder,
    drop_remainder: bool,
    what: str,
) -> tf.data.Dataset:
    """One pass over ``rows`` (an array, or a tuple of arrays with one row each per example) in ``order``,
    batched; ``what`` names the data in the error when it does not fill one batch."""
    parts = rows if isinstance(rows, tuple) else (rows,)
    _check_batches(len(parts[0]), batch_size, drop_remainder, what)
    picked = order.rows(len(parts[0]), batch_size)
    sliced = tuple(part[picked] for part in parts)
    dataset = tf.data.Dataset.from_tensor_slices(sliced if isinstance(rows, tuple) else sliced[0])
    return dataset.batch(batch_size, drop_remainder=drop_remainder)


def finish(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Two batches read ahead, with tf.data's autotuning off.

    Autotuning runs a model thread that an iterator joins when it is destroyed, and the engine ends one
    iterator per epoch: on a busy 2-core CPU that join waited 5-35 s at an epoch boundary, in about one boundary
    of three (the pause the 3-minute LM benchmark kept hitting). Our maps are gathers of ready arrays, which
    need no tuning: a fixed read-ahead of two batches keeps the step fed.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)


def _check_batches(rows: int, batch_size: int, drop_remainder: bool, what: str) -> None:
    if rows == 0 or (drop_remainder and rows < batch_size):
        raise DataError(
            f"{what}: {rows} example(s) do not fill one batch of {batch_size}.",
            hint="Use more data, a smaller batch size or a shorter sequence length.",
        )


def causal_lm_dataset(
    token_stream: np.ndarray,
    seq_len: int,
    batch_size: int,
    order: EpochOrder = SHUFFLED,
    drop_remainder: bool = True,
    shard: tuple[int, int] = (0, 1),
    max_windows: int | None = None,
) -> tf.data.Dataset:
    """``(x, y)`` int32 batches of shape ``[batch, seq_len]`` where ``y`` is ``x`` shifted by one token.

    ``shard`` ``(index, count)``: this process's slice of every batch (``batch / count`` rows) when ``count``
    processes train together; every batch must then be whole (``drop_remainder``). ``max_windows``: at most
    that many windows, evenly spaced over the stream (``spread``)."""
    stream = np.asarray(token_stream, dtype=np.int32).reshape(-1)
    _check_one_window(len(stream), seq_len)
    starts = spread(epoch_window_starts(len(stream), seq_len, order), max_windows)
    # Batches of window starts, gathered from one tensor of the stream: the windows lm_windows cuts, in the
    # same order, without three copies of the corpus (windows, their permutation, the dataset's own).
    tokens = tf.convert_to_tensor(stream)
    span = tf.range(seq_len + 1, dtype=tf.int64)

    def window(first: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        rows = tf.gather(tokens, first[:, None] + span[None, :])
        return rows[:, :-1], rows[:, 1:]

    dataset = _process_slice(
        epoch_batches(starts, batch_size, order, drop_remainder, "causal LM"), batch_size, shard
    )
    return finish(dataset.map(window, num_parallel_calls=tf.data.AUTOTUNE))


def _process_slice(dataset: tf.data.Dataset, batch_size: int, shard: tuple[int, int]) -> tf.data.Dataset:
    """Batches of window starts cut to this process's rows, before any window is read."""
    index, count = shard
    if count == 1:
        return dataset
    per = batch_size // count
    return dataset.map(lambda first: first[index * per : (index + 1) * per])


def _check_one_window(length: int, seq_len: int) -> None:
    if length < seq_len + 1:
        raise DataError(
            f"the text has {length} tokens, fewer than one window of {seq_len + 1} "
            f"(sequence length {seq_len} + 1).",
            hint="Use more text or a shorter sequence length.",
        )


def epoch_window_starts(length: int, seq_len: int, order: EpochOrder) -> np.ndarray:
    """Where one pass's windows start in a stream of ``length`` tokens: from a random offset in
    ``[0, seq_len)`` (by ``order``'s seed and epoch) when shuffling, from 0 otherwise."""
    offset, count = 0, None
    if order.shuffle:
        room = min(seq_len - 1, length - seq_len - 1)  # largest offset that still leaves one window
        offset = int(np.random.default_rng([order.seed, order.epoch]).integers(0, room + 1))
        count = (length - 1 - room) // seq_len  # fits at every offset in [0, room]
    return lm_window_starts(length, seq_len, offset=offset, count=count)


def spread(rows: np.ndarray, most: int | None) -> np.ndarray:
    """At most ``most`` of ``rows``, evenly spaced from the first to the last (all of them when ``most`` is
    None or not smaller): a held-out estimate over the whole split whose cost does not grow with it."""
    if most is None or len(rows) <= most:
        return rows
    return rows[np.linspace(0, len(rows) - 1, max(1, most)).round().astype(np.int64)]


def causal_lm_file_dataset(
    tokens: TokenFile,
    seq_len: int,
    batch_size: int,
    order: EpochOrder = SHUFFLED,
    drop_remainder: bool = True,
    max_windows: int | None = None,
    shard: tuple[int, int] = (0, 1),
) -> tf.data.Dataset:
    """``causal_lm_dataset`` over a token file on disk: the same windows in the same order, each batch's
    windows read from the file as it is needed, so memory does not grow with the corpus. ``max_windows``
    keeps that many, evenly spaced (a held-out estimate that does not grow with the corpus)."""
    _check_one_window(tokens.length, seq_len)
    starts = spread(epoch_window_starts(tokens.length, seq_len, order), max_windows)

    def read(first: np.ndarray) -> np.ndarray:
        return tokens.windows(first, seq_len + 1)

    def window(first: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        rows = tf.numpy_function(read, [first], tf.int32, stateful=False)
        rows = tf.ensure_shape(rows, [batch_size // shard[1] if drop_remainder else None, seq_len + 1])
        return rows[:, :-1], rows[:, 1:]

    dataset = _process_slice(
        epoch_batches(starts, batch_size, order, drop_remainder, "causal LM"), batch_size, shard
    )
    return finish(dataset.map(window, num_parallel_calls=tf.data.AUTOTUNE))


def classification_dataset(
    ids: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    order: EpochOrder = SHUFFLED,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """``(x[batch, seq_len], y[batch])`` int32 batches."""
    ids = np.asarray(ids, dtype=np.int32)
    labels = np.asarray(labels, dtype=np.int32).reshape(-1)
    if len(ids) != len(labels):
        raise ValueError(f"{len(ids)} id rows but {len(labels)} labels")
    return finish(epoch_batches((ids, labels), batch_size, order, drop_remainder, "classification"))


def soft_label_dataset(
    ids: np.ndarray, targets: np.ndarray, batch_size: int, order: EpochOrder = SHUFFLED
) -> tf.data.Dataset:
    """``(x[batch, seq_len] int32, y[batch, K] float32)`` batches: rows of soft targets (distillation)."""
    ids = np.asarray(ids, dtype=np.int32)
    targets = np.asarray(targets, dtype=np.float32)
    if len(ids) != len(targets):
        raise ValueError(f"{len(ids)} id rows but {len(targets)} target rows")
    return finish(epoch_batches((ids, targets), batch_size, order, False, "distillation"))


def mask_tokens(
    x: tf.Tensor, seed: tf.Tensor, *, vocab_size: int, mask_rate: float = 0.15
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """BERT masking with stateless tf ops: each non-special position is selected with probability
    ``mask_rate``; selected positions become [MASK] (80%), a random id >= 5 (10%) or stay (10%).
    Returns ``(x_masked, y=x, sample_weight)`` with weight 1.0 exactly at the selected positions."""
    select_seed, kind_seed, random_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=3))
    shape = tf.shape(x)
    selected = (x >= NUM_SPECIAL_TOKENS) & (tf.random.stateless_uniform(shape, seed=select_seed) < mask_rate)
    kind = tf.random.stateless_uniform(shape, seed=kind_seed)
    masked = tf.where(selected & (kind < 0.8), tf.constant(MASK, x.dtype), x)
    if vocab_size > NUM_SPECIAL_TOKENS:
        random_ids = tf.random.stateless_uniform(
            shape, seed=random_seed, minval=NUM_SPECIAL_TOKENS, maxval=vocab_size, dtype=x.dtype
        )
        masked = tf.where(selected & (kind >= 0.8) & (kind < 0.9), random_ids, masked)
    return masked, x, tf.cast(selected, tf.float32)


def masked_lm_dataset(
    ids: np.ndarray,
    batch_size: int,
    order: EpochOrder = SHUFFLED,
    *,
    vocab_size: int,
    mask_rate: float = 0.15,
    drop_remainder: bool = True,
) -> tf.data.Dataset:
    """``(x_masked, y_original, sample_weight)`` batches from ``ids[N, seq_len]``. The masks of batch k
    depend only on ``(seed, epoch, k)``, so skipping batches to resume does not change later masks."""
    ids = np.asarray(ids, dtype=np.int32)
    if ids.ndim != 2:
        raise ValueError(f"ids must be [N, seq_len], got shape {ids.shape}")
    dataset = epoch_batches(ids, batch_size, order, drop_remainder, "masked LM")
    base = tf.constant([order.seed, order.epoch], dtype=tf.int64)

    def apply(step: tf.Tensor, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        batch_seed = tf.random.experimental.stateless_fold_in(base, step)
        return mask_tokens(x, batch_seed, vocab_size=vocab_size, mask_rate=mask_rate)

    dataset = dataset.enumerate(start=order.skip_batches).map(apply, num_parallel_calls=tf.data.AUTOTUNE)
    return finish(dataset)
