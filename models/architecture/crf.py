"""Linear-chain CRF tagger: each word's tag scores summed from its own and its neighbours' word features.

The classic feature CRF (the sklearn-crfsuite recipe) as a Keras backbone, so it trains, evaluates and
exports to TFLite like the other kinds. Its input is the word-feature tokenizer's: every word is the same
number of ids (``tokens_per_word``: its form, prefixes, suffixes, shape), laid out ``[BOS] w1 w2 ...``. The
token embedding holds, per id, one row of tag weights for each window offset (-2..+2 words), and a word's
emission for tag k is

    sum over offsets d, over the ids t of word (i + d):  embedding[t][d, k]      (+ the head's bias[k])

The weights are not learnt by gradient descent: the engine fits them with CRFsuite (models.engine.crf_fit),
the L-BFGS trainer of the CRF peer, and writes them here with the tag-to-tag transitions (``TagChain``),
which the decoder (data.bio_decoding.ChainDecoding) reads back from the model.
"""

from __future__ import annotations

import keras
from keras import ops

from models.config import CRF_OFFSETS
from models.tasks.token_classifier import CHAIN_LAYER as CHAIN_NAME

OFFSETS = CRF_OFFSETS  # the words whose features score a word's tag: itself and two on each side
EMISSIONS_NAME = "window_emissions"


@keras.saving.register_keras_serializable(package="textlab")
class WindowEmissions(keras.layers.Layer):
    """embeddings ``[batch, seq, len(OFFSETS) * tags]`` -> emissions ``[batch, seq, tags]``: at each word's
    first id, the sum over offsets d of the rows of word (i + d)'s ``tokens_per_word`` ids for offset d
    (only word-first positions are read; positions past either end of the row add nothing)."""

    def __init__(self, tokens_per_word: int, num_tags: int, **kwargs):
        super().__init__(**kwargs)
        self.tokens_per_word = int(tokens_per_word)
        self.num_tags = int(num_tags)
        self.built = True

    def call(self, embeddings):
        g, k = self.tokens_per_word, self.num_tags
        seq = ops.shape(embeddings)[1]
        x = ops.reshape(embeddings, (-1, seq, len(OFFSETS), k))
        reach = max(abs(d) for d in OFFSETS) * g
        # Zeros past both ends, then each group sum (the rows of ids q .. q + g - 1, per offset) for every q
        # from -reach: a window that starts left of the row still holds the [BOS] at position 0.
        padded = ops.pad(x, [[0, 0], [reach, reach + g - 1], [0, 0], [0, 0]])
        groups = sum(padded[:, j : j + seq + 2 * reach] for j in range(g))
        return sum(groups[:, reach + d * g : reach + d * g + seq, o] for o, d in enumerate(OFFSETS))

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:2], self.num_tags)

    def get_config(self) -> dict:
        return {**super().get_config(), "tokens_per_word": self.tokens_per_word, "num_tags": self.num_tags}


@keras.saving.register_keras_serializable(package="textlab")
class TagChain(keras.layers.Layer):
    """Passes the emissions through; holds the CRF's tag-to-tag ``transitions [tags, tags]`` and the
    ``outside_bias`` the fit picked, so they are saved, loaded and exported with the model."""

    def __init__(self, num_tags: int, **kwargs):
        super().__init__(**kwargs)
        self.num_tags = int(num_tags)

    def build(self, input_shape) -> None:
        zeros = keras.initializers.Zeros()
        k = self.num_tags
        self.transitions = self.add_weight(
            shape=(k, k), initializer=zeros, trainable=False, name="transitions"
        )
        self.outside_bias = self.add_weight(shape=(), initializer=zeros, trainable=False, name="outside_bias")

    def call(self, emissions):
        return emissions

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_tags": self.num_tags}


def crf_stack(x, tokens_per_word: int, num_tags: int):
    """Token rows ``[batch, seq, offsets * tags]`` -> each word's tag emissions ``[batch, seq, tags]``."""
    # float32: a word's score sums up to offsets * tokens_per_word weights.
    emissions = WindowEmissions(tokens_per_word, num_tags, dtype="float32", name=EMISSIONS_NAME)(x)
    return TagChain(num_tags, dtype="float32", name=CHAIN_NAME)(emissions)
