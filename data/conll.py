"""CoNLL-style token tagging files: ``token<TAB>tag`` per line, a blank line between sentences, BIO tags."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from data.errors import DataError

CONLL_SUFFIXES: tuple[str, ...] = (".conll", ".conllu", ".bio", ".iob")
OUTSIDE = "O"
_BIO = re.compile(r"^(O|[BI]-\S+)$")
_DOCSTART = "-DOCSTART-"
_FORMAT_HINT = (
    "Write one token per line as token<TAB>tag (tags in BIO form: O, B-TYPE, I-TYPE) and leave an empty "
    "line between sentences."
)


@dataclass
class ConllDataset:
    """Sentences as word lists with one tag per word; ``first_lines[i]`` is sentence i's first line number."""

    sentences: list[list[str]]
    tags: list[list[str]]
    source: str
    first_lines: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def tag_set(self) -> list[str]:
        """Every tag seen, "O" first and then alphabetical (B-x before I-x), so label ids are stable."""
        seen = {tag for tags in self.tags for tag in tags}
        return ([OUTSIDE] if OUTSIDE in seen else []) + sorted(seen - {OUTSIDE})

    def entity_counts(self) -> dict[str, int]:
        """Entities per type (a span starts at each B- tag, or at an I- tag that does not continue one)."""
        counts: Counter[str] = Counter(kind for tags in self.tags for kind, _, _ in entity_spans(tags))
        return dict(sorted(counts.items()))


def entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """``(type, first, last)`` word spans of a BIO tag sequence, as seqeval (IOB2, non-strict) reads them:
    a span starts at B-x, or at I-x after O or after another type, and ends before any tag that does not
    continue it."""
    spans: list[tuple[str, int, int]] = []
    kind, start = None, 0
    for i, tag in enumerate([*tags, OUTSIDE]):
        prefix, tag_kind = (tag[0], tag[2:]) if tag != OUTSIDE else (OUTSIDE, None)
        continues = prefix == "I" and tag_kind == kind
        if kind is not None and not continues:
            spans.append((kind, start, i - 1))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, start = tag_kind, i
    return spans


def is_conll_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in CONLL_SUFFIXES


def load_conll(path: str | Path, *, max_sentences: int | None = None) -> ConllDataset:
    """Read and validate a CoNLL file; any malformed line raises a DataError naming the file and line."""
    name = str(path)
    file = Path(path)
    if not file.is_file():
        raise DataError(
            "was not found." if not file.exists() else "is a folder, not a file.",
            file=name,
            hint="Pass the path of the .conll file itself.",
        )
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(
            f"is not UTF-8 text (byte {err.start} cannot be decoded).",
            file=name,
            hint="Save the file as UTF-8.",
        ) from None
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    first_lines: list[int] = []
    words: list[str] = []
    labels: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():  # a blank (or whitespace-only, e.g. a lone tab) line ends the sentence
            if words:
                sentences.append(words)
                tags.append(labels)
                words, labels = [], []
                if max_sentences is not None and len(sentences) >= max_sentences:
                    break
            continue
        fields = line.split("\t")
        if fields[0].strip() == _DOCSTART:
            continue
        if not words:
            first_lines.append(number)
        words_, tag = _parse_line(fields, line, number, name)
        words.append(words_)
        labels.append(tag)
    else:
        if words:
            sentences.append(words)
            tags.append(labels)
    if not sentences:
        raise DataError("holds no tagged tokens.", file=name, hint=_FORMAT_HINT)
    data = ConllDataset(sentences, tags, name, first_lines[: len(sentences)])
    if max_sentences is not None and len(sentences) >= max_sentences:
        data.warnings.append(f"Kept the first {max_sentences} sentences of '{name}' (max_rows).")
    if len(data.tag_set) < 2:
        raise DataError(
            f"uses only the tag {data.tag_set[0]!r}; a tagger needs at least two different tags.",
            file=name,
            hint="Tag the entities (B-TYPE / I-TYPE) in the file.",
        )
    return data


def _parse_line(fields: list[str], line: str, number: int, name: str) -> tuple[str, str]:
    where = f"line {number}"
    if len(fields) != 2:
        found = "no tab" if len(fields) == 1 else f"{len(fields)} tab-separated fields"
        raise DataError(
            f"{where} ({_show(line)}) has {found}; expected exactly token<TAB>tag.",
            file=name,
            hint=_FORMAT_HINT,
        )
    word, tag = fields[0].strip(), fields[1].strip()
    if not word:
        raise DataError(f"{where} ({_show(line)}) has an empty token.", file=name, hint=_FORMAT_HINT)
    if any(ch.isspace() for ch in word):
        raise DataError(
            f"{where} ({_show(line)}) has a token with a space in it; one line holds one token.",
            file=name,
            hint="Split the token into one line per word.",
        )
    if not _BIO.match(tag):
        raise DataError(
            f"{where} ({_show(line)}) has the tag {tag!r}, which is not a BIO tag.",
            file=name,
            hint="Use O for tokens outside entities, B-TYPE for the first token of an entity and I-TYPE for "
            "the following ones (e.g. B-person, I-person).",
        )
    return word, tag


def _show(line: str, limit: int = 60) -> str:
    shown = line if len(line) <= limit else line[: limit - 3] + "..."
    return repr(shown)
