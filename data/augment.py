"""Perturbed copies of texts for a distillation transfer set (Tang et al., 2019: masking, n-gram sampling)."""

from __future__ import annotations

import numpy as np

from data.textshape import is_unspaced

DROP_RATE = 0.1  # each word (a character, in a script without spaces) is left out with this probability
SPAN_RATE = 0.25  # a copy keeps only a random span of its words with this probability
SPAN_WORDS = (1, 5)  # the span's length in words, drawn uniformly


def perturbed_copies(texts: list[str], copies: int, seed: int) -> list[str]:
    """``copies`` perturbed versions of each text, deterministic for a seed, empty ones left out.

    A teacher's answer on a text it was fitted to is close to its label; on a text with words missing, or on
    a few of its words only, it says what it has learnt of those words, which is what a student can learn
    from (a teacher's soft labels on its own training texts carry little more than the labels).
    """
    if copies <= 0 or not texts:
        return []
    rng = np.random.default_rng(seed)
    unspaced = [is_unspaced([text]) for text in texts]  # per text: a file may mix scripts
    out: list[str] = []
    for _ in range(copies):
        for text, chars in zip(texts, unspaced, strict=True):
            units = list(text) if chars else text.split()
            if not units:
                continue
            kept = [u for u, drop in zip(units, rng.random(len(units)) < DROP_RATE, strict=True) if not drop]
            if not kept:
                kept = [units[int(rng.integers(len(units)))]]
            if rng.random() < SPAN_RATE:
                n = int(rng.integers(SPAN_WORDS[0], SPAN_WORDS[1] + 1))
                start = int(rng.integers(max(1, len(kept) - n + 1)))
                kept = kept[start : start + n]
            copy = ("" if chars else " ").join(kept).strip()
            if copy:
                out.append(copy)
    return out
