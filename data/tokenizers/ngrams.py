"""N-gram tokenizer: each text becomes its distinct word and character n-grams, each with its count.

The linear model's input (models.architecture.linear): word 1-2-grams (character 1-3-grams for scripts
without spaces), plus character 2-5-grams inside word boundaries, the features of a classic TF-IDF
classifier. A text encodes to each distinct n-gram's id once, followed by a count token ``[x3]`` when it
occurs more than once, so a fixed-length model input carries the counts without repeating ids.

The analyzers are written out here rather than taken from scikit-learn at encode time because this file is
what a phone app ports (the bundle's runner imports it); tests check they equal scikit-learn's
``TfidfVectorizer`` analyzers ("word" with pattern ``\\b\\w+\\b``, "char", "char_wb"), lower-cased.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from data.errors import DataError
from data.special_tokens import SPECIAL_TOKENS
from data.tokenizers.base import Tokenizer

WORD = re.compile(r"(?u)\b\w+\b")
# Any run of white space reads as one space (scikit-learn keeps a lone tab or newline: vocab.txt cannot).
SPACES = re.compile(r"\s+")
MAX_COUNT = 64  # counts above this encode as [x64]: 1 + ln(64) already weighs a feature 5x a single one
COUNT_TOKENS = tuple(f"[x{c}]" for c in range(2, MAX_COUNT + 1))
# Block prefixes in vocab.txt: the text's words ("w:"), its characters when it has no spaces ("c:"), and
# character n-grams inside word boundaries ("b:"); the model normalises each block on its own.
WORDS, CHARS, SUBWORDS = "w:", "c:", "b:"
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (1, 3)
SUBWORD_NGRAMS = (2, 5)
SUBWORD_MIN_DF = 2  # character n-grams in one training text only are noise, and most of the vocabulary


def word_ngrams(text: str, low: int = WORD_NGRAMS[0], high: int = WORD_NGRAMS[1]) -> list[str]:
    """Lower-cased words (``\\b\\w+\\b``) and their ``low``-``high``-grams joined by a space, in order."""
    words = WORD.findall(text.lower())
    out: list[str] = []
    for n in range(low, high + 1):
        out += [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    return out


def char_ngrams(text: str, low: int = CHAR_NGRAMS[0], high: int = CHAR_NGRAMS[1]) -> list[str]:
    """Character n-grams of the lower-cased text, white space read as one space."""
    text = SPACES.sub(" ", text.lower())
    out: list[str] = []
    for n in range(low, min(high, len(text)) + 1):
        out += [text[i : i + n] for i in range(len(text) - n + 1)]
    return out


def subword_ngrams(text: str, low: int = SUBWORD_NGRAMS[0], high: int = SUBWORD_NGRAMS[1]) -> list[str]:
    """Character n-grams of each space-padded word (" word "), never across words (scikit-learn's char_wb)."""
    out: list[str] = []
    for word in SPACES.sub(" ", text.lower()).split():
        out += _padded_word_ngrams(word, low, high)
    return out


@functools.lru_cache(maxsize=200_000)  # words repeat (Zipf): most texts' words were cut up before
def _padded_word_ngrams(word: str, low: int, high: int) -> tuple[str, ...]:
    padded = f" {word} "
    out: list[str] = []
    for n in range(low, high + 1):
        if n >= len(padded):  # a word as short as n or shorter: the padded word itself, once
            out.append(padded)
            break
        out += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return tuple(out)


class NgramTokenizer(Tokenizer):
    """Vocabulary: the specials, the count tokens, then every n-gram kept from the training split.

    ``unspaced``: the texts do not separate words with spaces (Chinese, Japanese, Thai), so the first block
    holds character 1-3-grams instead of words. Every n-gram of the training texts is kept (as the TF-IDF
    baseline keeps them), except word-internal character n-grams seen in only one text; ``vocab_size``
    does not apply.
    """

    kind = "ngrams"

    def __init__(self, vocabulary: list[str], *, unspaced: bool = False) -> None:
        super().__init__(vocabulary, lowercase=True)
        if tuple(vocabulary[len(SPECIAL_TOKENS) : count_tokens_end()]) != COUNT_TOKENS:
            raise ValueError(
                f"an n-gram vocabulary must list {COUNT_TOKENS[0]}..{COUNT_TOKENS[-1]} after the specials"
            )
        self.unspaced = bool(unspaced)
        self.first = CHARS if unspaced else WORDS
        # Each block's n-grams by their text without the prefix: encoding never builds prefixed strings.
        self._blocks = tuple(
            {token[2:]: i for i, token in enumerate(vocabulary) if token.startswith(prefix)}
            for prefix in (self.first, SUBWORDS)
        )

    @classmethod
    def train(
        cls, texts: Iterable[str], min_frequency: int = 1, max_ngrams: int | None = None
    ) -> NgramTokenizer:
        """Every first-block n-gram in at least ``min_frequency`` texts, and the subword ones in two; with
        ``max_ngrams``, only that many of them, those in the most texts (scikit-learn's max_features, by
        document frequency; ties by the n-gram)."""
        from data.textshape import is_unspaced

        texts = list(texts)
        unspaced = is_unspaced(texts)
        first, second = Counter(), Counter()
        for text in texts:
            block, sub = _raw_features(text, unspaced)
            first.update(set(block))
            second.update(set(sub))
        if not first:
            raise DataError("there are no words in the training text.", hint="Add text.")
        prefix = CHARS if unspaced else WORDS
        counted = {prefix + g: n for g, n in first.items() if n >= max(1, min_frequency)}
        counted.update({SUBWORDS + g: n for g, n in second.items() if n >= SUBWORD_MIN_DF})
        if max_ngrams is not None and len(counted) > max_ngrams:
            counted = dict(
                sorted(counted.items(), key=lambda item: (-item[1], item[0]))[: max(1, max_ngrams)]
            )
        kept = sorted(g for g in counted if g.startswith(prefix)) + sorted(
            g for g in counted if g.startswith(SUBWORDS)
        )
        return cls(list(SPECIAL_TOKENS) + list(COUNT_TOKENS) + kept, unspaced=unspaced)

    def subset(self, token_ids: Iterable[int]) -> NgramTokenizer:
        """A tokenizer that knows only the n-grams among ``token_ids`` (the specials and count tokens stay)."""
        start = count_tokens_end()
        chosen = sorted({int(i) for i in token_ids if start <= int(i) < len(self._vocab)})
        return NgramTokenizer(self._vocab[:start] + [self._vocab[i] for i in chosen], unspaced=self.unspaced)

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        """Each known n-gram's id once, in order of first appearance, then ``[x<count>]`` if it repeats."""
        count_base = len(SPECIAL_TOKENS) - 2  # [x2] is id count_base + 2
        out = []
        for text in texts:
            ids: list[int] = []
            for grams, index in zip(_raw_features(text, self.unspaced), self._blocks, strict=True):
                for gram, n in Counter(grams).items():  # a Counter keeps first-appearance order
                    token_id = index.get(gram)
                    if token_id is not None:
                        ids.append(token_id)
                        if n > 1:
                            ids.append(count_base + min(n, MAX_COUNT))
            out.append(ids)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """The single words (or characters) among ``ids``: what of the text the vocabulary knew."""
        unigrams = []
        for token_id in ids:
            token = self.id_to_token(int(token_id))
            if token.startswith(self.first) and (self.unspaced or " " not in token[2:]):
                if not self.unspaced or len(token) == 3:
                    unigrams.append(token[2:])
        return ("" if self.unspaced else " ").join(unigrams)

    def block_starts(self) -> tuple[int, int]:
        """The ids where the first block and the subword block begin (the vocabulary is sorted by block)."""
        vocab = self._vocab
        start = count_tokens_end()
        sub = next((i for i in range(start, len(vocab)) if vocab[i].startswith(SUBWORDS)), len(vocab))
        return start, sub

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "unspaced": self.unspaced,
            "max_count": MAX_COUNT,
            "first_block": {
                "prefix": self.first,
                "analyzer": "char" if self.unspaced else "word",
                "ngrams": list(CHAR_NGRAMS if self.unspaced else WORD_NGRAMS),
            },
            "subword_block": {"prefix": SUBWORDS, "analyzer": "char_wb", "ngrams": list(SUBWORD_NGRAMS)},
        }

    @classmethod
    def from_saved(cls, lines: list[str], config: dict[str, Any]) -> NgramTokenizer:
        return cls(list(lines), unspaced=bool(config.get("unspaced", False)))


def ngram_positions(text: str, unspaced: bool) -> int:
    """How many ids the text encodes to at most (every n-gram known): distinct n-grams plus count tokens."""
    return sum(len(c) + sum(n > 1 for n in c.values()) for c in map(Counter, _raw_features(text, unspaced)))


def count_tokens_end() -> int:
    """The first id after the count tokens."""
    return len(SPECIAL_TOKENS) + len(COUNT_TOKENS)


def count_of(token: str) -> int:
    """2..MAX_COUNT for a count token, else 1."""
    return int(token[2:-1]) if token in _COUNTS else 1


_COUNTS = frozenset(COUNT_TOKENS)


def _raw_features(text: str, unspaced: bool) -> tuple[list[str], list[str]]:
    """The first block's n-grams (words, or characters) and the subword block's, without prefixes."""
    return (char_ngrams(text) if unspaced else word_ngrams(text)), subword_ngrams(text)
