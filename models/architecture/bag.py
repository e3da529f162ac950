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


def bag_stack(x, token_ids, cfg: ModelConfig):
    """Token embeddings [batch, seq, hidden] + hashed bigram embeddings -> [batch, seq, hidden]."""
    bigrams = HashedBigramEmbedding(
        cfg.vocab_size, cfg.ngram_buckets, cfg.hidden_dim, name=NGRAM_EMBEDDING_NAME
    )
    x = keras.layers.Add(name="bag")([x, bigrams(token_ids)])
    return keras.layers.Dropout(cfg.dropout, name="bag_dropout")(x)
