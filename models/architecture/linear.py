"""Linear TF-IDF model: each n-gram's TF-IDF value times its row of class weights, summed by the pooled head.

The classic text classifier (TF-IDF + logistic regression) as a Keras backbone, so it trains, evaluates and
exports to TFLite like the other kinds. Its weights are not learnt by gradient descent: the engine fits them
with scikit-learn's liblinear (models.engine.linear_fit), the convex solver that finds the small-norm fit
where Adam over-weights rare n-grams (BENCHMARKS.md). The input is the n-gram tokenizer's: each distinct
n-gram once, followed by a count token when it repeats (data.tokenizers.ngrams).

Per position i with token t_i and next token t_{i+1}:
    v_i = idf[t_i] * tf_weight[t_{i+1}]        (sublinear tf: 1 + ln(count) from the count token, else 1)
    x_i = v_i / ||v over the positions of t_i's block||   (each block, words and subwords, has unit length)
and the backbone's hidden state at i is ``n * x_i * embedding[t_i]`` (n: the real positions), so the pooled
head's masked mean is exactly sum_i x_i * embedding[t_i]; its Dense layer is then the identity, and
embedding[t] holds n-gram t's weight for each class (hidden_dim = num_classes).
"""

from __future__ import annotations

import keras
from keras import ops

from models.architecture.layers import PAD_ID

WEIGHTS_NAME = "tfidf_weights"


@keras.saving.register_keras_serializable(package="textlab")
class TfidfWeights(keras.layers.Layer):
    """(embeddings [batch, seq, classes], token_ids [batch, seq]) -> the embeddings scaled by each position's
    ``n * x_i`` (see the module docstring).

    Three non-trainable per-token tables, set by the fit: ``idf`` (0 for specials and count tokens, so they
    weigh nothing), ``tf_weight`` (1 + ln c for the count token [x c], 1 otherwise) and ``block`` (1 for the
    subword block, 0 for the first)."""

    def __init__(self, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = int(vocab_size)

    def build(self, input_shape) -> None:
        def table(name: str, value: float):
            return self.add_weight(
                shape=(self.vocab_size,),
                initializer=keras.initializers.Constant(value),
                trainable=False,
                name=name,
            )

        self.idf, self.tf_weight, self.block = table("idf", 0.0), table("tf_weight", 1.0), table("block", 0.0)

    def call(self, embeddings, token_ids):
        ids = ops.cast(token_ids, "int32")
        following = ops.pad(ids[:, 1:], [[0, 0], [0, 1]], constant_values=PAD_ID)
        values = ops.take(self.idf, ids, axis=0) * ops.take(self.tf_weight, following, axis=0)
        sub = ops.take(self.block, ids, axis=0)
        squares = values * values
        sub_norm = ops.sqrt(ops.sum(squares * sub, axis=1, keepdims=True))
        first_norm = ops.sqrt(ops.sum(squares * (1.0 - sub), axis=1, keepdims=True))
        norm = ops.maximum(sub * sub_norm + (1.0 - sub) * first_norm, 1e-12)
        real = ops.sum(ops.cast(ops.not_equal(ids, PAD_ID), values.dtype), axis=1, keepdims=True)
        scale = values / norm * real
        return embeddings * ops.expand_dims(ops.cast(scale, embeddings.dtype), -1)

    def compute_output_shape(self, embeddings_shape, token_ids_shape=None):
        return tuple(embeddings_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "vocab_size": self.vocab_size}


def linear_stack(x, token_ids, vocab_size: int):
    """Token embeddings [batch, seq, classes] scaled by each position's TF-IDF weight."""
    # float32: the norms sum squares over every n-gram of a text.
    return TfidfWeights(vocab_size, dtype="float32", name=WEIGHTS_NAME)(x, token_ids)
