"""Word-level tags -> sub-word token rows: the first sub-token of a word carries its tag, the rest weigh 0."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from data.errors import DataError
from data.pipelines import SHUFFLED, EpochOrder, epoch_batches, finish
from data.special_tokens import BOS, PAD, UNK
from data.tokenizers.base import Tokenizer


@dataclass
class AlignedTokens:
    """``ids/labels [N, seq_len]`` int32 and ``weights`` float32 (1.0 at each word's first sub-token, else 0:
    [BOS], later sub-tokens, separators and [PAD] are ignored); ``words_kept[i]`` words of sentence i fit."""

    ids: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    words_kept: np.ndarray
    truncated_words: int


def align_words(
    tokenizer: Tokenizer,
    sentences: Sequence[Sequence[str]],
    tag_ids: Sequence[Sequence[int]] | None,
    seq_len: int,
) -> AlignedTokens:
    """Encode each word on its own and lay the pieces out as ``[BOS] w1 sep w2 ...``, cut to ``seq_len``.

    Encoding word by word (Tokenizer.encode_words) gives the same pieces as encoding the sentence
    (WordPiece splits on whitespace first), and tells where each word starts. ``sep`` is what a space
    encodes to: nothing for WordPiece, the space character for the char tokenizer, so a char model still
    sees word boundaries. A word whose
    first piece fits counts as kept (its tail may be cut). ``tag_ids`` None labels every word 0 (inference).
    """
    if seq_len < 2:
        raise DataError(
            f"sequence length {seq_len} leaves no room for a word after [BOS].", hint="Use seq_len >= 2."
        )
    encoded = tokenizer.encode_words(sentences)
    sep = tokenizer.encode(" ")
    n = len(sentences)
    ids = np.full((n, seq_len), PAD, dtype=np.int32)
    labels = np.zeros((n, seq_len), dtype=np.int32)
    weights = np.zeros((n, seq_len), dtype=np.float32)
    kept = np.zeros((n,), dtype=np.int32)
    truncated = 0
    for i, words in enumerate(encoded):
        ids[i, 0] = BOS
        pos = 1
        for j, pieces in enumerate(words):
            row = (sep if j else []) + (pieces or [UNK])  # a word never vanishes: [UNK] keeps its slot
            first = pos + (len(sep) if j else 0)
            if first >= seq_len:
                truncated += len(words) - j
                break
            body = row[: seq_len - pos]
            ids[i, pos : pos + len(body)] = body
            labels[i, first] = tag_ids[i][j] if tag_ids is not None else 0
            weights[i, first] = 1.0
            kept[i] = j + 1
            pos += len(body)
    return AlignedTokens(ids, labels, weights, kept, truncated)


def token_classification_dataset(
    aligned: AlignedTokens, batch_size: int, order: EpochOrder = SHUFFLED
) -> tf.data.Dataset:
    """``(ids, labels, weights)`` batches of one pass in ``order`` (data.pipelines.EpochOrder)."""
    if len(aligned.ids) == 0:
        raise DataError(
            "there are no sentences to tag.", hint="Use more data or a smaller validation fraction."
        )
    rows = (aligned.ids, aligned.labels, aligned.weights)
    return finish(epoch_batches(rows, batch_size, order, False, "tagging"))
