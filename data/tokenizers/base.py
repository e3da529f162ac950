"""The tokenizer interface shared by the char and WordPiece tokenizers, and their on-disk format."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from data.errors import DataError
from data.fileio import atomic_write_json, atomic_write_text
from data.special_tokens import NUM_SPECIAL_TOKENS, SPECIAL_TOKENS, UNK

VOCAB_FILE = "vocab.txt"
CONFIG_FILE = "tokenizer.json"
FORMAT_VERSION = 1


class Tokenizer:
    """Vocabulary (ids 0-4 are the fixed specials) plus encode/decode; subclasses set ``kind``."""

    kind: str = ""

    def __init__(self, vocabulary: Sequence[str], *, lowercase: bool = False) -> None:
        vocabulary = list(vocabulary)
        if tuple(vocabulary[:NUM_SPECIAL_TOKENS]) != SPECIAL_TOKENS:
            raise ValueError(
                f"a vocabulary must start with {SPECIAL_TOKENS}, got {vocabulary[:NUM_SPECIAL_TOKENS]}"
            )
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("vocabulary has duplicate tokens")
        self._vocab = vocabulary
        self._index = {token: i for i, token in enumerate(vocabulary)}
        self.lowercase = lowercase

    @property
    def vocabulary(self) -> list[str]:
        return list(self._vocab)

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    def token_to_id(self, token: str) -> int:
        return self._index.get(token, UNK)

    def id_to_token(self, token_id: int) -> str:
        return self._vocab[token_id] if 0 <= token_id < len(self._vocab) else SPECIAL_TOKENS[UNK]

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        raise NotImplementedError

    def encode_words(self, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """Each sentence's words, each encoded on its own (a tagger's view; each distinct word once).

        A tokenizer whose ids for a word also depend on its neighbours overrides this."""
        unique = sorted({w for words in sentences for w in words})
        pieces = dict(zip(unique, self.encode_batch(unique), strict=True))
        return [[pieces[w] for w in words] for words in sentences]

    def decode(self, ids: Iterable[int]) -> str:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """What ``tokenizer.json`` holds; subclasses add their own fields."""
        return {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "lowercase": self.lowercase,
            "vocab_size": self.vocab_size,
            "special_tokens": list(SPECIAL_TOKENS),
        }

    def vocab_lines(self) -> list[str]:
        """One line per token in ``vocab.txt``; the char tokenizer escapes whitespace here."""
        return list(self._vocab)

    @classmethod
    def from_saved(cls, lines: list[str], config: dict[str, Any]) -> Tokenizer:
        raise NotImplementedError

    def save(self, directory: str | Path) -> Path:
        """Write ``vocab.txt`` (line number = id) and ``tokenizer.json`` atomically; returns the folder."""
        directory = Path(directory)
        atomic_write_text(directory / VOCAB_FILE, "".join(line + "\n" for line in self.vocab_lines()))
        atomic_write_json(directory / CONFIG_FILE, self.config())
        return directory

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, lowercase={self.lowercase})"


def read_saved(directory: str | Path) -> tuple[list[str], dict[str, Any]]:
    """Read the vocabulary lines and config of a saved tokenizer, with DataErrors naming the file."""
    directory = Path(directory)
    vocab_path, config_path = directory / VOCAB_FILE, directory / CONFIG_FILE
    for path in (vocab_path, config_path):
        if not path.is_file():
            raise DataError(
                "is missing.",
                file=str(path),
                hint="A tokenizer folder holds vocab.txt and tokenizer.json; point at the run's tokenizer/ folder.",
            )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(
            f"is not valid JSON ({err}).", file=str(config_path), hint="Re-train the tokenizer."
        ) from None
    lines = vocab_path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # trailing newline
    return [line.rstrip("\r") for line in lines], config
