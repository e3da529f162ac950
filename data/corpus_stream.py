"""Plain-text corpora read as a stream (one .txt file or a folder of them): split by bytes, decoded in pieces.

A language-model corpus larger than memory is never held whole: its splits are byte ranges of the files'
concatenation (training first, validation and test at the end, each boundary moved to the next line break),
read back in bounded chunks cut at whitespace, and its tokenizer learns from a bounded sample of the training
range (``sample``). Small corpora keep the in-memory path (``data.loaders``); ``streams`` says which applies.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from data.config import DataConfig
from data.errors import DataError
from data.text_pieces import pieces

STREAM_MB_ENV = "TEXTLAB_STREAM_MB"
DEFAULT_STREAM_MB = 50  # corpora from this size on stream; below it the in-memory path is as fast
CHUNK_BYTES = 4 << 20  # read per call: bounded memory whatever the corpus size
SAMPLE_BYTES = 16 << 20  # what a tokenizer learns from (WordPiece on 16 MB: a few seconds)
SAMPLE_CHUNKS = 64  # taken evenly across the training range, so the sample sees the whole corpus
BOUNDARY_SEARCH = 1 << 20  # how far a split boundary may move to reach a line break
WHITESPACE = b" \n\t\r\f\v"
SPLITS = ("train", "val", "test")
_MB = 1 << 20


@dataclass(frozen=True)
class Corpus:
    """A corpus's files (read in this order), their sizes, and whether each line is a document."""

    source: str
    files: tuple[Path, ...]
    sizes: tuple[int, ...]
    lines_are_documents: bool = False

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)

    def identity(self) -> dict:
        """What names this corpus's content for a cache: each file's path, size and modification time."""
        return {
            "files": [
                [str(f.resolve()), s, f.stat().st_mtime_ns]
                for f, s in zip(self.files, self.sizes, strict=True)
            ],
            "lines_are_documents": self.lines_are_documents,
        }


def corpus_files(path: str | os.PathLike) -> list[Path]:
    """The .txt files of a corpus: the file itself, or a folder's .txt files (sub-folders too), sorted."""
    root = Path(path)
    if root.is_dir():
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() == ".txt")
    return [root] if root.suffix.lower() == ".txt" and root.is_file() else []


def stream_threshold() -> int:
    """Bytes from which a corpus streams: ``TEXTLAB_STREAM_MB`` megabytes, 50 unless set."""
    raw = os.environ.get(STREAM_MB_ENV, "").strip()
    try:
        megabytes = float(raw) if raw else DEFAULT_STREAM_MB
    except ValueError:
        megabytes = -1.0
    if megabytes < 0:
        raise DataError(
            f"the environment variable {STREAM_MB_ENV}={raw!r} is not a size in megabytes.",
            hint=f"Set it to a number such as 50 (0 streams every corpus), or unset it for {DEFAULT_STREAM_MB}.",
        )
    return int(megabytes * _MB)


def streams(data: DataConfig) -> bool:
    """True when ``data`` is a plain-text corpus (a .txt file or a folder of them) to stream: a folder
    always, a file from ``stream_threshold()`` bytes on. Tables (CSV, JSONL, ...) never stream."""
    path = Path(data.path)
    if path.is_dir():
        return True
    files = corpus_files(path)
    return bool(files) and data.max_rows is None and files[0].stat().st_size >= stream_threshold()


def open_corpus(data: DataConfig) -> Corpus:
    """The corpus at ``data.path``; a clear error when it holds no text to read."""
    if not Path(data.path).exists():
        raise DataError(
            "was not found.", file=data.path, hint=f"Check the path (relative paths start at {Path.cwd()})."
        )
    files = corpus_files(data.path)
    if not files:
        raise DataError(
            "holds no .txt files to read as a corpus." if Path(data.path).is_dir() else "is not a .txt file.",
            file=data.path,
            hint="Point to a plain-text file, or a folder of .txt files (one document each).",
        )
    sizes = tuple(f.stat().st_size for f in files)
    if not sum(sizes):
        raise DataError("is empty (0 bytes).", file=data.path, hint="Choose the files that hold your text.")
    return Corpus(data.path, tuple(files), sizes, lines_are_documents=data.text_mode == "lines")


def split_offsets(corpus: Corpus, val_fraction: float, test_fraction: float) -> dict[str, tuple[int, int]]:
    """Byte range of each split in the files' concatenation: training first, then validation, then test,
    each boundary moved just past the next line break (within ``BOUNDARY_SEARCH`` bytes)."""
    total = corpus.total_bytes
    train_end = _after_line_break(corpus, round(total * (1 - val_fraction - test_fraction)))
    val_end = _after_line_break(corpus, max(train_end, round(total * (1 - test_fraction))))
    if test_fraction == 0:
        val_end = total
    if val_fraction == 0:
        val_end = train_end
    return {"train": (0, train_end), "val": (train_end, val_end), "test": (val_end, total)}


def _after_line_break(corpus: Corpus, offset: int) -> int:
    if offset <= 0 or offset >= corpus.total_bytes:
        return min(max(offset, 0), corpus.total_bytes)
    for file, start, size in _spans(corpus):
        if start <= offset < start + size:
            with open(file, "rb") as handle:
                handle.seek(offset - start)
                found = handle.read(BOUNDARY_SEARCH).find(b"\n")
            return offset + found + 1 if found >= 0 else offset
    return offset


def _spans(corpus: Corpus) -> Iterator[tuple[Path, int, int]]:
    """Each file with its start offset in the concatenation and its size."""
    start = 0
    for file, size in zip(corpus.files, corpus.sizes, strict=True):
        yield file, start, size
        start += size


def read_text(corpus: Corpus, start: int, end: int) -> Iterator[str | None]:
    """The text of bytes ``[start, end)`` as pieces cut at whitespace (``data.text_pieces``), with None
    between documents (files, or lines when ``lines_are_documents``); the caller writes an [EOS] there."""
    first = True
    for file, offset, size in _spans(corpus):
        lo, hi = max(start, offset), min(end, offset + size)
        if lo >= hi:
            continue
        if not first and not corpus.lines_are_documents:
            yield None
        first = False
        for text in _decoded_chunks(file, lo - offset, hi - offset):
            if corpus.lines_are_documents:
                yield from _line_documents(text)
            else:
                yield from pieces(text)


def _line_documents(text: str) -> Iterator[str | None]:
    for line in text.split("\n"):
        if line.strip():
            yield line
            yield None


def _decoded_chunks(file: Path, start: int, end: int) -> Iterator[str]:
    """Bytes ``[start, end)`` of ``file`` decoded as UTF-8 in chunks cut after whitespace (a character
    is never split), a leading byte-order mark dropped, CRLF read as LF and NUL bytes removed."""
    with open(file, "rb") as handle:
        handle.seek(start)
        remaining, carry, first = end - start, b"", start == 0
        while remaining > 0:
            block = handle.read(min(CHUNK_BYTES, remaining))
            if not block:
                break
            remaining -= len(block)
            data, carry = carry + block, b""
            if remaining > 0:  # keep what follows the last whitespace for the next chunk
                cut = _last_whitespace(data) + 1 or _char_start(data)
                data, carry = data[:cut], data[cut:]
            if first and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
            first = False
            text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\x00", "")
            if text:
                yield text


def _last_whitespace(data: bytes) -> int:
    return max(data.rfind(bytes([b])) for b in WHITESPACE)


def _char_start(data: bytes) -> int:
    """The last position in ``data`` where a UTF-8 character starts (continuation bytes are 10xxxxxx)."""
    cut = len(data) - 1
    while cut > 0 and data[cut] & 0xC0 == 0x80:
        cut -= 1
    return cut if cut > 0 else len(data)


def sample(corpus: Corpus, start: int, end: int, budget: int = SAMPLE_BYTES) -> list[str]:
    """Up to ``budget`` bytes of ``[start, end)`` as ``SAMPLE_CHUNKS`` evenly spaced texts (all of it when
    the range fits the budget): what a tokenizer learns from."""
    span = end - start
    if span <= budget:
        return [t for t in read_text(corpus, start, end) if t]
    size = budget // SAMPLE_CHUNKS
    texts: list[str] = []
    for i in range(SAMPLE_CHUNKS):
        lo = start + (span - size) * i // (SAMPLE_CHUNKS - 1)
        texts.extend(t for t in read_text(corpus, lo, lo + size) if t)
    return texts


def fingerprint(corpus: Corpus, **settings: object) -> str:
    """A short key for this corpus's content and the settings that shape its tokens (a cache's name)."""
    raw = json.dumps({"corpus": corpus.identity(), **settings}, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:20]
