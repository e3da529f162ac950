"""Word-feature tokenizer: each word becomes a fixed group of ids (its form, prefixes, suffixes and shape)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from data.config import WORD_SLOTS
from data.errors import DataError
from data.special_tokens import SPECIAL_TOKENS
from data.tokenizers.base import Tokenizer

# One token per slot, in this order; a value seen fewer than min_frequency times in training becomes the
# slot's own unknown token ("w:?"), so the model still knows which slot it is looking at. "p" and "s" are the
# 3-character prefix and suffix (the neural tagger's slots, data.config.WORD_SLOTS, as saved runs name them);
# p1 p2 p4 and s1 s2 s4 the 1-, 2- and 4-character ones a CRF also reads. "b" is the word and the next one
# together (a character bigram, where the words are characters: the feature Chinese NER taggers read first).
SLOTS = (*WORD_SLOTS, "p1", "p2", "p4", "s1", "s2", "s4", "b")
AFFIX = 3  # the length of the "p" and "s" slots' prefix and suffix, in characters
AFFIX_LENGTHS = {"p": AFFIX, "s": AFFIX, "p1": 1, "p2": 2, "p4": 4, "s1": 1, "s2": 2, "s4": 4}
UNKNOWN = "?"


def word_shape(word: str) -> str:
    """Capitals X, small letters x, digits d, other characters kept; runs collapsed: "McGill" -> "XxXx",
    "@nasa" -> "@x", "2016" -> "d". Letters without case (CJK, Thai...) are "L"."""
    out: list[str] = []
    for ch in word:
        if ch.isupper():
            c = "X"
        elif ch.islower():
            c = "x"
        elif ch.isdigit():
            c = "d"
        elif ch.isalpha():
            c = "L"
        else:
            c = ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)[:8]


def word_features(word: str, slots: tuple[str, ...] = WORD_SLOTS, following: str = "") -> tuple[str, ...]:
    """The values of ``slots`` for one word, as vocabulary strings ("w:paris", "p:par", "s:ris", "x:Xx",
    "p1:p", "s4:aris"; "b:paris|in" with the ``following`` word, "b:paris|" at the end of the text)."""
    low = word.lower()

    def value(slot: str) -> str:
        if slot == "w":
            return low
        if slot == "b":
            return f"{low}|{following.lower()}"
        if slot == "x":
            return word_shape(word)
        n = AFFIX_LENGTHS[slot]
        return low[:n] if slot[0] == "p" else low[-n:]

    return tuple(f"{slot}:{value(slot)}" for slot in slots)


class WordFeatureTokenizer(Tokenizer):
    """Splits on whitespace; every word encodes to ``len(slots)`` ids, so tags sit on each group's first id.

    Built for tagging, where a name is told by its form, capitals and affixes (a CRF's features); the
    sequence model reads the groups in order, so each word's tag also sees its neighbours. ``slots`` is a
    subset of SLOTS in that order (words that are single characters need no prefix or suffix)."""

    kind = "word_features"

    def __init__(
        self, vocabulary: list[str], *, min_frequency: int = 2, slots: tuple[str, ...] = WORD_SLOTS
    ) -> None:
        super().__init__(vocabulary, lowercase=False)
        self.min_frequency = min_frequency
        self.slots = checked_slots(slots)
        self._unknown = [self._index[f"{slot}:{UNKNOWN}"] for slot in self.slots]

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        min_frequency: int = 2,
        vocab_size: int | None = None,
        slots: tuple[str, ...] = WORD_SLOTS,
    ) -> WordFeatureTokenizer:
        """Values seen at least ``min_frequency`` times, the most frequent first up to ``vocab_size`` ids."""
        slots = checked_slots(slots)
        counts: Counter[str] = Counter()
        for text in texts:
            for word, following in with_following(text.split()):
                counts.update(word_features(word, slots, following))
        if not counts:
            raise DataError("there are no words in the training text.", hint="Add text.")
        unknown = [f"{slot}:{UNKNOWN}" for slot in slots]
        frequent = sorted((-n, v) for v, n in counts.items() if n >= min_frequency and v not in unknown)
        room = len(frequent) if vocab_size is None else max(0, vocab_size - len(SPECIAL_TOKENS) - len(slots))
        kept = sorted(v for _, v in frequent[:room])
        return cls(list(SPECIAL_TOKENS) + unknown + kept, min_frequency=min_frequency, slots=slots)

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        return [[i for group in self.groups(text.split()) for i in group] for text in texts]

    def encode_words(self, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """Each sentence's words' groups; a "b" slot reads each word's neighbour in its sentence."""
        if "b" not in self.slots:
            return super().encode_words(sentences)  # each distinct word encoded once
        return [self.groups(words) for words in sentences]

    def groups(self, words: Sequence[str]) -> list[list[int]]:
        """The ids of each word's slots, in order (a value not in the vocabulary: its slot's unknown)."""
        lookup = self._index.get
        return [
            [
                lookup(v, u)
                for v, u in zip(word_features(word, self.slots, following), self._unknown, strict=True)
            ]
            for word, following in with_following(words)
        ]

    def decode(self, ids: Iterable[int]) -> str:
        """The words' lower-cased forms ("?" where the form was unknown); other slots are skipped."""
        words = []
        for token_id in ids:
            token = self.id_to_token(int(token_id))
            if token.startswith("w:"):
                words.append(token[2:])
        return " ".join(words)

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "min_frequency": self.min_frequency,
            "slots": list(self.slots),
            "affix": AFFIX,
        }

    @classmethod
    def from_saved(cls, lines: list[str], config: dict[str, Any]) -> WordFeatureTokenizer:
        slots = tuple(config.get("slots", WORD_SLOTS))
        return cls(list(lines), min_frequency=int(config.get("min_frequency", 2)), slots=slots)


def with_following(words: Sequence[str]) -> list[tuple[str, str]]:
    """Each word with the word after it ("" after the last)."""
    return list(zip(words, [*words[1:], ""], strict=False))  # no words: the lone "" pairs with nothing


def checked_slots(slots: Any) -> tuple[str, ...]:
    """``slots`` as a tuple in SLOTS order; the form ("w") must be one of them (tags sit on the first id)."""
    chosen = tuple(slots)
    if (
        not chosen
        or chosen[0] != "w"
        or any(s not in SLOTS for s in chosen)
        or len(set(chosen)) != len(chosen)
    ):
        raise DataError(
            f"word-feature slots {list(chosen)} are not valid.",
            hint=f"use 'w' (the word) first, then any of {', '.join(SLOTS[1:])}, each once.",
        )
    return tuple(s for s in SLOTS if s in chosen)
