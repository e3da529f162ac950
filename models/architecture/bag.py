"""N-gram bag (the fastText family): each position's token embedding plus a hashed bigram embedding.

No layer mixes positions beyond the bigram, so the pooled head turns it into fastText's averaged bag of
n-grams: seconds per epoch on a laptop CPU, and builtin TFLite ops only.
"""

from __future__ import annotations

import keras
from keras import ops

from models.architecture.layers import PAD_ID
from models.config import ModelConfig

NGRAM_EMBEDDING_NAME = "bigram_embedding"


@keras.saving.register_keras_serializable(package="textlab")
class HashedBigramEmbedding(keras.layers.Layer):
    """token_ids [batch, seq] -> [batch, seq, dim]: position t gets the embedding of the pair (t-1, t),
    hashed into ``buckets`` rows; zeros where there is no pair (the first position, a PAD on either side).

    The pair index ``prev * vocab_size + cur`` stays within int32 for vocabularies up to 46,340 tokens, so
    the hash is int32 MUL, ADD and FLOOR_MOD on every backend and in TFLite.
    """

    def __init__(self, vocab_size: int, buckets: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        if vocab_size * vocab_size >= 2**31:
            raise ValueError(f"vocab_size {vocab_size} is too large for int32 bigram hashing (max 46340)")
        self.vocab_size, self.buckets, self.dim = int(vocab_size), int(buckets), int(dim)

    def build(self, input_shape) -> None:
        self.embeddings = self.add_weight(
            shape=(self.buckets, self.dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="embeddings",
        )

    def call(self, token_ids):
        ids = ops.cast(token_ids, "int32")
        prev, cur = ids[:, :-1], ids[:, 1:]
        rows = ops.mod(prev * self.vocab_size + cur, self.buckets)
        present = ops.logical_and(ops.not_equal(prev, PAD_ID), ops.not_equal(cur, PAD_ID))
        vectors = ops.take(self.embeddings, rows, axis=0) * ops.expand_dims(
            ops.cast(present, self.compute_dtype), -1
        )
        return ops.pad(vectors, [[0, 0], [1, 0], [0, 0]])  # position 0 has no predecessor

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.dim)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "buckets": self.buckets,
            "dim": self.dim,
        }


@keras.saving.register_keras_serializable(package="textlab")
class WindowContext(keras.layers.Layer):
    """hidden [batch, seq, dim] -> the mean of the ``window`` positions either side of each position, the
    position itself left out: word2vec's CBOW context (Mikolov et al. 2013), so a bag's masked-LM head
    predicts each masked token from its neighbours. Zero where no neighbour is a real token."""

    def __init__(self, window: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.window = int(window)

    def call(self, hidden, padding_mask):
        real = ops.expand_dims(ops.cast(padding_mask, hidden.dtype), -1)
        return self._neighbours(hidden * real) / ops.maximum(self._neighbours(real), 1.0)

    def _neighbours(self, values):
        """Sum over the positions within ``window`` either side (padded, so any length works)."""
        w, length = self.window, ops.shape(values)[1]
        padded = ops.pad(values, [[0, 0], [w, w], [0, 0]])
        shifts = [s for s in range(-w, w + 1) if s]
        return sum(padded[:, w + s : w + s + length] for s in shifts)

    def compute_output_shape(self, hidden_shape, padding_mask_shape=None):
        return hidden_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "window": self.window}


def bag_stack(x, token_ids, cfg: ModelConfig):
    """Token embeddings [batch, seq, hidden] + hashed bigram embeddings -> [batch, seq, hidden]."""
    bigrams = HashedBigramEmbedding(
        cfg.vocab_size, cfg.ngram_buckets, cfg.hidden_dim, name=NGRAM_EMBEDDING_NAME
    )
    x = keras.layers.Add(name="bag")([x, bigrams(token_ids)])
    return keras.layers.Dropout(cfg.dropout, name="bag_dropout")(x)
