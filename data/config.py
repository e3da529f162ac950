"""The data layer's own config pieces: where the examples come from and which tokenizer to learn."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

TokenizerKind = Literal["char", "wordpiece", "word_features", "ngrams"]
TextMode = Literal["lines", "corpus"]  # plain-text files: one document per line, or one corpus

TOKENIZER_KINDS: tuple[str, ...] = get_args(TokenizerKind)
# The word-feature tokenizer's slots, in their order: form, prefix, suffix, shape (data/tokenizers/word_features.py).
WORD_SLOTS: tuple[str, ...] = ("w", "p", "s", "x")
TEXT_MODES: tuple[str, ...] = get_args(TextMode)


@dataclass
class DataConfig:
    """Where the examples come from and how to split them."""

    path: str = ""
    text_column: str | None = None  # None: detect
    label_column: str | None = None  # None: detect (classification only)
    text_mode: TextMode = "corpus"  # plain-text files: one doc per line, or one corpus
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 1337
    max_rows: int | None = None
    sheet: str | None = None  # Excel workbooks: the sheet's name or number (1 = first); None: the first
    merge_label_case: bool = False  # labels that differ only by case ('Spam', 'spam') become one class


@dataclass
class TokenizerConfig:
    """Which tokenizer to train on the run's training split."""

    kind: TokenizerKind = "char"
    vocab_size: int = 4000  # WordPiece target size, word features' ceiling; char vocab is what the data holds
    lowercase: bool = True  # WordPiece only
    min_frequency: int = 1  # characters (word features) rarer than this map to [UNK] (their slot's unknown)
    # n-grams only: keep this many, those in the most training texts (None: every one). A distilled linear
    # student keeps this many of its teacher's n-grams instead: those with the largest class weights.
    max_ngrams: int | None = None
    # Word features only: which of form "w", prefix "p", suffix "s", shape "x" each word becomes.
    word_slots: list[str] = field(default_factory=lambda: list(WORD_SLOTS))
