"""WordPiece tokenizer: keras-hub splits words and encodes batches; the pieces are learned by merges."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from data.errors import DataError
from data.special_tokens import SPECIAL_TOKENS, UNK_TOKEN
from data.text_pieces import batches, pieces
from data.tokenizers.base import Tokenizer
from data.tokenizers.wordpiece_py import MAX_BYTES_PER_WORD, SUFFIX_INDICATOR, WordPieceEncoder
from data.tokenizers.wordpiece_py import pretokenize as pretokenize_py
from data.tokenizers.wordpiece_vocab import learn_vocabulary


@functools.cache
def tf_text_available() -> bool:
    """Whether tensorflow-text is importable: it has no recent wheels for macOS arm64 or Windows, where the
    pure-Python twin (data.tokenizers.wordpiece_py, equal ids, tested) does the work instead."""
    try:
        import tensorflow_text  # noqa: F401
    except ImportError:
        return False
    return True


def count_words(texts: Iterable[str], *, lowercase: bool = True) -> Counter[str]:
    """Word counts after keras-hub's own pre-tokenization, the very function ``encode`` runs.

    Texts are read in whitespace-cut pieces, a bounded batch per call (``data.text_pieces``): the same words,
    with memory bounded by the batch, not by a corpus that is one long document."""
    split = (piece for text in texts for piece in pieces(str(text)))
    if not tf_text_available():
        return Counter(word for piece in split for word in pretokenize_py(piece, lowercase))
    import tensorflow as tf
    from keras_hub.src.tokenizers.word_piece_tokenizer import pretokenize  # not exported; pinned 0.32

    raw: Counter[bytes] = Counter()
    for group in batches(split):
        # Eager on purpose: tracing a tf.function costs more than a few eager calls of these ops.
        words = pretokenize(tf.constant(group), lowercase, lowercase, True, True, None)
        raw.update(words.flat_values.numpy().tolist())
    return Counter({word.decode("utf-8"): n for word, n in raw.items()})


class WordPieceTokenizer(Tokenizer):
    """Lower-casing also strips accents (BERT "uncased"). ``data.tokenizers.wordpiece_py`` is the TF-free twin."""

    kind = "wordpiece"

    def __init__(self, vocabulary: list[str], *, lowercase: bool = True) -> None:
        super().__init__(vocabulary, lowercase=lowercase)
        self._reference = WordPieceEncoder(self._vocab, lowercase=lowercase)
        self._tokenize_fn = None  # built on first use: constructing the tf-text tokenizer costs ~100 ms

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, *, lowercase: bool = True) -> WordPieceTokenizer:
        """Count words exactly as ``encode`` splits them, then learn pieces (``data.tokenizers.wordpiece_vocab``)."""
        texts = [t for t in texts if t]
        if not texts:
            raise DataError(
                "there is no training text to learn a WordPiece vocabulary from.", hint="Add text."
            )
        if vocab_size <= len(SPECIAL_TOKENS):
            raise DataError(
                f"WordPiece vocabulary size {vocab_size} leaves no room beyond the {len(SPECIAL_TOKENS)} special tokens.",
                hint="Use a vocabulary size of a few hundred or more.",
            )
        # keras-hub's compute_word_piece_vocabulary runs tf-text's pure-Python threshold search (minutes
        # for 1 MB, and it undershoots the size); the merge learner takes seconds and hits the size.
        counts = count_words(texts, lowercase=lowercase)
        if not counts:
            raise DataError(
                "the training text has no words (only spaces or control characters).", hint="Add text."
            )
        vocab = learn_vocabulary(counts, vocab_size, SPECIAL_TOKENS)
        return cls(vocab, lowercase=lowercase)

    def _function(self):
        if self._tokenize_fn is None:
            import keras_hub
            import tensorflow as tf

            layer = keras_hub.tokenizers.WordPieceTokenizer(
                vocabulary=self._vocab,
                lowercase=self.lowercase,
                strip_accents=self.lowercase,
                suffix_indicator=SUFFIX_INDICATOR,
                oov_token=UNK_TOKEN,
                dtype="int32",
            )
            # Inside tf.function keras-hub takes its tf-text path, which is what makes batches fast. Its
            # tokenize has no data-dependent Python control flow, so autograph is off: tracing takes ~1 s
            # instead of ~10 s.
            self._tokenize_fn = tf.function(
                layer.tokenize,
                autograph=False,
                input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string)],
            )
        return self._tokenize_fn

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        texts = [str(t) for t in texts]
        if not tf_text_available():
            return [self._reference.encode(t) for t in texts]
        fn = self._function()
        out: list[list[int]] = []
        for group in batches(texts):  # bounded by texts and characters, as count_words
            ragged = fn(group)
            values = ragged.flat_values.numpy()
            splits = ragged.row_splits.numpy()
            out.extend(values[a:b].tolist() for a, b in zip(splits[:-1], splits[1:], strict=True))
        return out

    def encode_python(self, text: str) -> list[int]:
        """The pure-Python reference encoding (``data.tokenizers.wordpiece_py``); equal to ``encode``."""
        return self._reference.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        """Words joined by spaces with "##" pieces glued on; specials other than [UNK] are skipped."""
        return self._reference.decode(np.asarray(list(ids), dtype=np.int64).tolist())

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "strip_accents": self.lowercase,
            "suffix_indicator": SUFFIX_INDICATOR,
            "max_bytes_per_word": MAX_BYTES_PER_WORD,
            "split_on_cjk": True,
        }

    @classmethod
    def from_saved(cls, lines: list[str], config: dict[str, Any]) -> WordPieceTokenizer:
        return cls(lines, lowercase=bool(config.get("lowercase", True)))
