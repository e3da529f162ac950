"""Character tokenizer: one id per character seen in training, rare or unseen characters map to [UNK]."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from data.errors import DataError
from data.special_tokens import NUM_SPECIAL_TOKENS, SPECIAL_TOKENS, UNK
from data.tokenizers.base import Tokenizer

UNKNOWN_CHAR = "\ufffd"  # how decode shows [UNK], so users see that a character was unknown


def escape_char(token: str) -> str:
    """vocab.txt is line-based: whitespace/invisible characters are written as \\uXXXX (or \\UXXXXXXXX)."""
    if len(token) == 1 and (token.isspace() or not token.isprintable()):
        code = ord(token)
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return token


def unescape_char(line: str) -> str:
    """Inverse of ``escape_char``: a real character token is one character, so longer lines are escapes."""
    if len(line) == 1 or line in SPECIAL_TOKENS:
        return line
    if (line.startswith("\\u") and len(line) == 6) or (line.startswith("\\U") and len(line) == 10):
        return chr(int(line[2:], 16))
    raise ValueError(f"not a character token: {line!r}")


class CharTokenizer(Tokenizer):
    """Vocabulary = specials + sorted characters with frequency >= ``min_frequency``."""

    kind = "char"

    def __init__(self, vocabulary: list[str], *, min_frequency: int = 1) -> None:
        super().__init__(vocabulary, lowercase=False)
        self.min_frequency = min_frequency

    @classmethod
    def train(cls, texts: Iterable[str], min_frequency: int = 1) -> CharTokenizer:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text)
        chars = sorted(ch for ch, n in counts.items() if n >= min_frequency)
        if not chars:
            raise DataError(
                f"no character occurs at least {min_frequency} time(s) in the training text.",
                hint="Use more text or a lower minimum frequency.",
            )
        return cls(list(SPECIAL_TOKENS) + chars, min_frequency=min_frequency)

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        lookup = self._index.get
        return [[lookup(ch, UNK) for ch in text] for text in texts]

    def decode(self, ids: Iterable[int]) -> str:
        """Join characters; [PAD]/[BOS]/[EOS]/[MASK] are skipped and [UNK] shows as U+FFFD."""
        vocab, size = self._vocab, len(self._vocab)
        out = []
        for token_id in ids:
            token_id = int(token_id)
            if token_id >= NUM_SPECIAL_TOKENS and token_id < size:
                out.append(vocab[token_id])
            elif token_id == UNK or token_id >= size:
                out.append(UNKNOWN_CHAR)
        return "".join(out)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "min_frequency": self.min_frequency, "vocab_escape": "\\uXXXX"}

    def vocab_lines(self) -> list[str]:
        return [escape_char(token) for token in self._vocab]

    @classmethod
    def from_saved(cls, lines: list[str], config: dict[str, Any]) -> CharTokenizer:
        return cls([unescape_char(line) for line in lines], min_frequency=int(config.get("min_frequency", 1)))
