"""Tokenizers (char, WordPiece, word features, n-grams) behind one interface: train from a TokenizerConfig, save, load."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from data.config import TokenizerConfig
from data.errors import DataError
from data.special_tokens import (
    BOS,
    BOS_TOKEN,
    CLS,
    EOS,
    EOS_TOKEN,
    MASK,
    MASK_TOKEN,
    NUM_SPECIAL_TOKENS,
    PAD,
    PAD_TOKEN,
    SEP,
    SPECIAL_TOKENS,
    UNK,
    UNK_TOKEN,
)
from data.tokenizers.base import CONFIG_FILE, VOCAB_FILE, Tokenizer, read_saved
from data.tokenizers.char import CharTokenizer
from data.tokenizers.ngrams import NgramTokenizer
from data.tokenizers.word_features import WordFeatureTokenizer
from data.tokenizers.wordpiece import WordPieceTokenizer

__all__ = [
    "BOS",
    "BOS_TOKEN",
    "CLS",
    "CONFIG_FILE",
    "EOS",
    "EOS_TOKEN",
    "MASK",
    "MASK_TOKEN",
    "NUM_SPECIAL_TOKENS",
    "PAD",
    "PAD_TOKEN",
    "SEP",
    "SPECIAL_TOKENS",
    "UNK",
    "UNK_TOKEN",
    "VOCAB_FILE",
    "CharTokenizer",
    "NgramTokenizer",
    "Tokenizer",
    "WordFeatureTokenizer",
    "WordPieceTokenizer",
    "load_tokenizer",
    "train_tokenizer",
]

_KINDS: dict[str, type[Tokenizer]] = {
    "char": CharTokenizer,
    "wordpiece": WordPieceTokenizer,
    "word_features": WordFeatureTokenizer,
    "ngrams": NgramTokenizer,
}


def train_tokenizer(config: TokenizerConfig, texts: Iterable[str]) -> Tokenizer:
    """Learn a vocabulary from ``texts`` (the training split only, so val/test stay unseen)."""
    if config.kind == "char":
        return CharTokenizer.train(texts, min_frequency=config.min_frequency)
    if config.kind == "wordpiece":
        return WordPieceTokenizer.train(texts, config.vocab_size, lowercase=config.lowercase)
    if config.kind == "word_features":
        return WordFeatureTokenizer.train(
            texts,
            min_frequency=config.min_frequency,
            vocab_size=config.vocab_size,
            slots=tuple(config.word_slots),
        )
    if config.kind == "ngrams":
        return NgramTokenizer.train(texts, min_frequency=config.min_frequency, max_ngrams=config.max_ngrams)
    raise DataError(f"unknown tokenizer kind '{config.kind}'.", hint=f"Use one of: {', '.join(_KINDS)}.")


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Load what ``Tokenizer.save(directory)`` wrote."""
    lines, config = read_saved(directory)
    kind = config.get("kind")
    if kind not in _KINDS:
        raise DataError(
            f"names an unknown tokenizer kind {kind!r}.",
            file=str(Path(directory) / CONFIG_FILE),
            hint=f"'kind' must be one of: {', '.join(_KINDS)}.",
        )
    try:
        return _KINDS[kind].from_saved(lines, config)
    except ValueError as err:
        raise DataError(
            f"is not a valid {kind} vocabulary: {err}.",
            file=str(Path(directory) / VOCAB_FILE),
            hint="Re-train the tokenizer; vocab.txt must start with " + ", ".join(SPECIAL_TOKENS) + ".",
        ) from None
