"""Hashed n-gram bag: every token id (an n-gram of the `ngrams` tokenizer) reads one row of a small table.

fastText's bucket trick (Joulin et al. 2017) over the linear kind's features: the vocabulary of word and
character n-grams can hold hundreds of thousands of ids, and one row per id would be a table as large as the
linear model it learns from. Ids share ``buckets`` rows by ``id mod buckets`` instead, so the model's size is
set by its preset, not by the data; the pooled head averages the rows (fastText's mean of n-gram vectors).
Integer FLOOR_MOD and GATHER only: builtin TFLite ops.
"""

from __future__ import annotations

import keras
from keras import ops

from models.config import ModelConfig

HASHED_EMBEDDING_NAME = "hashed_embedding"


@keras.saving.register_keras_serializable(package="textlab")
class HashedTokenEmbedding(keras.layers.Layer):
    """token_ids [batch, seq] -> [batch, seq, dim]: the row ``id mod buckets`` of a [buckets, dim] table.

    PAD rows are read like any other; the head's masked mean leaves PAD positions out.
    """

    def __init__(self, buckets: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.buckets, self.dim = int(buckets), int(dim)

    def build(self, input_shape) -> None:
        # fastText's initialisation: small uniform rows, so a text's mean starts near zero at any length.
        limit = 1.0 / self.dim
        self.embeddings = self.add_weight(
            shape=(self.buckets, self.dim),
            initializer=keras.initializers.RandomUniform(-limit, limit),
            name="embeddings",
        )

    def call(self, token_ids):
        rows = ops.mod(ops.cast(token_ids, "int32"), self.buckets)
        return ops.take(self.embeddings, rows, axis=0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.dim)

    def get_config(self) -> dict:
        return {**super().get_config(), "buckets": self.buckets, "dim": self.dim}


def hashed_embedding(token_ids, cfg: ModelConfig):
    """token_ids -> hashed rows [batch, seq, hidden_dim] (the whole backbone of this kind)."""
    return HashedTokenEmbedding(cfg.ngram_buckets, cfg.hidden_dim, name=HASHED_EMBEDDING_NAME)(token_ids)
