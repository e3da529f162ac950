"""How a collection of texts is written: words per text, and whether its script separates words by spaces."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

# Texts whose whitespace-separated pieces are this long (median) do not split words with spaces
# (Chinese, Japanese, Thai): word-level tools do not apply to them.
UNSPACED_CHARS_PER_TOKEN = 8.0
SAMPLE = 2000  # texts read; enough for a median, bounded for large tables


def chars_per_token(texts: Sequence[str]) -> float:
    """Median over (a sample of) the texts of characters per whitespace-separated piece."""
    sample = [t for t in list(texts[:SAMPLE]) if t.strip()]
    return statistics.median(len(t) / max(1, len(t.split())) for t in sample) if sample else 0.0


def is_unspaced(texts: Sequence[str]) -> bool:
    return chars_per_token(texts) > UNSPACED_CHARS_PER_TOKEN
