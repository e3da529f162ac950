"""Report how many examples were cut to the model's sequence length (computed after tokenizing)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TruncationReport:
    """How many rows did not fit in ``max_len`` tokens (including ``reserved`` special tokens)."""

    rows: int
    truncated: int
    max_len: int
    longest: int  # longest row in tokens, specials included

    @property
    def fraction(self) -> float:
        return self.truncated / self.rows if self.rows else 0.0

    def message(self) -> str:
        """A user-facing sentence, or "" when nothing was truncated."""
        if not self.truncated:
            return ""
        return (
            f"{self.truncated} of {self.rows} rows longer than the model's sequence length "
            f"({self.max_len} tokens) were truncated (longest: {self.longest} tokens). "
            "Raise the sequence length to keep more of each text."
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fraction": self.fraction, "message": self.message()}


def truncate_report(token_lengths: Iterable[int], max_len: int, *, reserved: int = 0) -> TruncationReport:
    """Count rows whose ``length + reserved`` exceeds ``max_len``.

    Call it with the lengths from ``tokenizer.encode_batch`` (no specials) and ``reserved=1`` when a
    [BOS]/[CLS] token is prepended, so the message names the model's real sequence length.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    lengths = np.fromiter((int(n) for n in token_lengths), dtype=np.int64) + int(reserved)
    if lengths.size == 0:
        return TruncationReport(rows=0, truncated=0, max_len=max_len, longest=0)
    return TruncationReport(
        rows=int(lengths.size),
        truncated=int((lengths > max_len).sum()),
        max_len=int(max_len),
        longest=int(lengths.max()),
    )
