"""Token shards on disk: a streamed corpus encoded once per split into flat token files, cached by corpus and
tokenizer, and read back window by window (never loaded whole)."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data.fileio import atomic_write_text
from data.special_tokens import EOS
from data.text_pieces import batches
from data.tokenizers import load_tokenizer
from data.tokenizers.base import Tokenizer

META_FILE = "meta.json"  # written last: a folder without it is an unfinished encoding
TOKENIZER_DIR = "tokenizer"
FORMAT = 1  # bump when the layout changes, so an old cache is not read as a new one

Progress = Callable[[int, int, float], None]  # (bytes done, bytes in all, seconds so far)


@dataclass(frozen=True)
class TokenFile:
    """A flat token file of ``length`` tokens of ``dtype`` (uint16 or int32)."""

    path: Path
    length: int
    dtype: str

    def read(self, start: int, count: int) -> np.ndarray:
        """Tokens ``[start, start + count)`` as int32, read with one positioned read (no memory map, so
        the process keeps only what it reads)."""
        itemsize = np.dtype(self.dtype).itemsize
        with open(self.path, "rb") as handle:
            raw = os.pread(handle.fileno(), count * itemsize, start * itemsize)
        return np.frombuffer(raw, dtype=self.dtype).astype(np.int32)

    def windows(self, starts: np.ndarray, width: int) -> np.ndarray:
        """``[len(starts), width]`` int32 rows, row i the tokens from ``starts[i]``."""
        itemsize = np.dtype(self.dtype).itemsize
        out = np.empty((len(starts), width), dtype=np.int32)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for i, start in enumerate(starts):
                raw = os.pread(fd, width * itemsize, int(start) * itemsize)
                out[i] = np.frombuffer(raw, dtype=self.dtype)
        finally:
            os.close(fd)
        return out


@dataclass(frozen=True)
class Shards:
    """A cache entry: the tokenizer, a TokenFile per split, and how the encoding went (``meta``)."""

    directory: Path
    tokenizer: Tokenizer
    files: dict[str, TokenFile]
    meta: dict[str, Any]


def token_dtype(vocab_size: int) -> str:
    return "uint16" if vocab_size <= np.iinfo(np.uint16).max + 1 else "int32"


def load_shards(directory: Path) -> Shards | None:
    """The finished cache entry in ``directory``, or None (missing, unfinished or of another format)."""
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT:
        return None
    files = {
        name: TokenFile(directory / f"{name}.bin", int(length), meta["dtype"])
        for name, length in meta["tokens"].items()
    }
    if any(
        not f.path.exists() or f.path.stat().st_size != f.length * np.dtype(f.dtype).itemsize
        for f in files.values()
    ):
        return None
    return Shards(directory, load_tokenizer(directory / TOKENIZER_DIR), files, meta)


def write_shards(
    directory: Path,
    tokenizer: Tokenizer,
    splits: dict[str, Callable[[], Iterable[str | None]]],
    split_bytes: dict[str, int],
    progress: Progress | None = None,
    extra: dict[str, Any] | None = None,
) -> Shards:
    """Encode each split's pieces (None: an [EOS]) into ``<split>.bin`` under a temporary folder, then
    move it into place: a killed encoding leaves no half-written entry, and a concurrent one loses the race
    harmlessly. ``split_bytes`` sizes the progress; ``extra`` goes into the meta."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    work = directory.parent / f".{directory.name}.{uuid.uuid4().hex[:8]}"
    work.mkdir()
    dtype = token_dtype(tokenizer.vocab_size)
    total, done, started = sum(split_bytes.values()), 0, time.monotonic()
    counts: dict[str, int] = {}
    try:
        tokenizer.save(work / TOKENIZER_DIR)
        for name, pieces in splits.items():
            counts[name] = 0
            with open(work / f"{name}.bin", "wb") as out:
                for group in batches(pieces()):
                    texts = [p for p in group if p is not None]
                    encoded = iter(tokenizer.encode_batch(texts))
                    ids: list[int] = []
                    for piece in group:
                        ids.extend([EOS] if piece is None else next(encoded))
                    out.write(np.asarray(ids, dtype=dtype).tobytes())
                    counts[name] += len(ids)
                    done += sum(len(t.encode("utf-8")) for t in texts)
                    if progress:
                        progress(min(done, total), total, time.monotonic() - started)
        seconds = time.monotonic() - started
        meta = {"format": FORMAT, "dtype": dtype, "tokens": counts, "bytes": split_bytes,
                "encode_seconds": round(seconds, 3), "mb_per_s": round(total / 1e6 / max(seconds, 1e-9), 2),
                **(extra or {})}  # fmt: skip
        atomic_write_text(work / META_FILE, json.dumps(meta, indent=2) + "\n")
        try:
            os.rename(work, directory)
        except OSError:  # another run finished the same entry first: use theirs
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shards = load_shards(directory)
    if shards is None:
        raise OSError(f"the token cache {directory} could not be read back after writing it")
    return shards
