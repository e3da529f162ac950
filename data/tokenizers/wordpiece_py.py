"""Pure-Python WordPiece encoder and decoder (standard library only): the reference an on-device port follows.

It reads only ``vocab.txt`` (one token per line, id = line number) and the ``lowercase`` flag from
``tokenizer.json``, and reproduces keras-hub's ``WordPieceTokenizer`` (tf-text) ids exactly:

1. if lowercase: Unicode NFD, then drop combining marks (category Mn) -- "strip accents";
2. split into words: ASCII whitespace, control (Cc) and format (Cf) characters separate words and are
   dropped; punctuation (ASCII symbols and category P*) and CJK ideographs become one-character words;
3. if lowercase: each word gets NFKC + case folding + NFKC, minus default-ignorable code points;
4. each word becomes the longest vocabulary prefix, then "##"-prefixed longest pieces for the rest
   (greedy longest-match-first); a word that cannot be covered, or is longer than 100 UTF-8 bytes, is [UNK].
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from data.special_tokens import NUM_SPECIAL_TOKENS, SPECIAL_TOKENS, UNK, UNK_TOKEN

SUFFIX_INDICATOR = "##"
MAX_BYTES_PER_WORD = 100  # tf-text's FastWordpieceTokenizer maps longer words to [UNK]

_ASCII_WHITESPACE = frozenset(" \t\n\r\f")
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# Unicode default-ignorable code points, which NFKC_Casefold removes.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def _in_ranges(ch: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in ranges)


def is_separator(ch: str) -> bool:
    """Characters that end a word and are dropped."""
    return ch in _ASCII_WHITESPACE or unicodedata.category(ch) in ("Cc", "Cf")


def is_punctuation(ch: str) -> bool:
    """Characters that become a word of their own: every ASCII symbol, plus Unicode punctuation."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def casefold(word: str) -> str:
    """Unicode NFKC_Casefold, as ICU (and so tf-text's ``case_fold_utf8``) applies it."""
    word = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", word).casefold())
    return "".join(ch for ch in word if not _in_ranges(ch, _DEFAULT_IGNORABLE))


def pretokenize(text: str, lowercase: bool) -> list[str]:
    """Normalize and split ``text`` into words (steps 1-3 of the module docstring)."""
    if lowercase:
        text = "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")
    words: list[str] = []
    current: list[str] = []
    for ch in text:
        if is_separator(ch):
            pass
        elif is_punctuation(ch) or _in_ranges(ch, _CJK_RANGES):
            if current:
                words.append("".join(current))
                current = []
            words.append(ch)
            continue
        else:
            current.append(ch)
            continue
        if current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    if lowercase:
        words = [casefold(w) for w in words]
    return words


def wordpiece(word: str, index: dict[str, int]) -> list[str]:
    """Greedy longest-match-first pieces of one word; [UNK] if it cannot be covered."""
    if not word:
        return []
    if len(word.encode("utf-8")) > MAX_BYTES_PER_WORD:
        return [UNK_TOKEN]
    pieces = []
    start = 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else SUFFIX_INDICATOR + word[start:end]
            if piece in index:
                break
            end -= 1
        else:
            return [UNK_TOKEN]
        pieces.append(piece)
        start = end
    return pieces


def decode_tokens(tokens: list[str]) -> str:
    """Join tokens with spaces, gluing "##" pieces to the word before them."""
    words: list[str] = []
    for token in tokens:
        if words and token.startswith(SUFFIX_INDICATOR) and len(token) > len(SUFFIX_INDICATOR):
            words[-1] += token[len(SUFFIX_INDICATOR) :]
        else:
            words.append(token)
    return " ".join(words)


class WordPieceEncoder:
    """Encode/decode with a saved WordPiece vocabulary, without TensorFlow."""

    def __init__(self, vocabulary: list[str], lowercase: bool = True) -> None:
        if tuple(vocabulary[:NUM_SPECIAL_TOKENS]) != SPECIAL_TOKENS:
            raise ValueError(f"vocabulary must start with {SPECIAL_TOKENS}")
        self.vocabulary = list(vocabulary)
        self.lowercase = lowercase
        self.index = {token: i for i, token in enumerate(self.vocabulary)}

    @classmethod
    def from_dir(cls, directory: str | Path) -> WordPieceEncoder:
        """Read ``vocab.txt`` and ``tokenizer.json`` written by ``WordPieceTokenizer.save``."""
        directory = Path(directory)
        lines = (directory / "vocab.txt").read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the file ends with a newline
        meta = json.loads((directory / "tokenizer.json").read_text(encoding="utf-8"))
        return cls([line.rstrip("\r") for line in lines], lowercase=bool(meta.get("lowercase", True)))

    def tokenize(self, text: str) -> list[str]:
        return [piece for word in pretokenize(text, self.lowercase) for piece in wordpiece(word, self.index)]

    def encode(self, text: str) -> list[int]:
        return [self.index.get(token, UNK) for token in self.tokenize(text)]

    def encode_words(self, sentences: list[list[str]]) -> list[list[list[int]]]:
        """Each sentence's words, each encoded on its own (as Tokenizer.encode_words)."""
        return [[self.encode(word) for word in words] for words in sentences]

    def decode(self, ids: list[int]) -> str:
        """Skip [PAD]/[BOS]/[EOS]/[MASK]; keep [UNK] visible; out-of-range ids read as [UNK]."""
        size = len(self.vocabulary)
        tokens = [self.vocabulary[i] if 0 <= i < size else UNK_TOKEN for i in (int(x) for x in ids)]
        return decode_tokens([t for t in tokens if t == UNK_TOKEN or t not in SPECIAL_TOKENS])
