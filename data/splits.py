"""Deterministic train/val/test splits: stratified by label, by row, or by characters for one corpus."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.errors import DataError


@dataclass
class Splits:
    """Three disjoint frames (index = source row numbers) and any warnings about small classes."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


@dataclass
class CorpusSplits:
    """A single document cut by characters: train is the start, val and test the last fractions."""

    train: str
    val: str
    test: str


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DataError(
            f"val fraction {val_fraction} and test fraction {test_fraction} leave nothing to train on.",
            hint="Use fractions between 0 and 1 whose sum is below 1, e.g. 0.1 and 0.1.",
        )


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))  # half-up, unlike Python's banker's rounding


def split_corpus(text: str, val_fraction: float = 0.1, test_fraction: float = 0.1) -> CorpusSplits:
    """Cut one long text by characters: [train | val | test], val and test taken from the end."""
    _check_fractions(val_fraction, test_fraction)
    n = len(text)
    n_test = _round(n * test_fraction)
    n_val = _round(n * val_fraction)
    train_end = n - n_val - n_test
    if train_end < 1:
        raise DataError(
            f"the text has only {n} characters, too few to split.", hint="Use more text or smaller fractions."
        )
    return CorpusSplits(text[:train_end], text[train_end : n - n_test], text[n - n_test :])


def split_frame(
    frame: pd.DataFrame,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 1337,
    stratify: bool = True,
) -> Splits:
    """Split rows into train/val/test. Labelled frames are stratified (every class keeps >= 1 train row);
    an unlabelled one-row frame (a corpus) is split by characters with ``split_corpus``."""
    _check_fractions(val_fraction, test_fraction)
    labelled = "label" in frame.columns
    if not labelled and len(frame) == 1:
        parts = split_corpus(str(frame["text"].iloc[0]), val_fraction, test_fraction)
        pieces = [
            frame.iloc[:0] if not p else frame.assign(text=[p]) for p in (parts.train, parts.val, parts.test)
        ]
        return Splits(*pieces)
    rng = np.random.default_rng(seed)
    warnings: list[str] = []
    if labelled and stratify:
        parts = _stratified(frame, val_fraction, test_fraction, rng, warnings)
    else:
        n = len(frame)
        n_val, n_test = _round(n * val_fraction), _round(n * test_fraction)
        if n - n_val - n_test < 1:
            raise DataError(
                f"only {n} row(s), too few to split.", hint="Add rows, or set the val/test fractions to 0."
            )
        order = rng.permutation(n)
        parts = [order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]]
    # Shuffle within each split so batches are not grouped by class.
    train, val, test = (frame.iloc[rng.permutation(p)] for p in parts)
    return Splits(train, val, test, warnings)


def _stratified(
    frame: pd.DataFrame,
    val_fraction: float,
    test_fraction: float,
    rng: np.random.Generator,
    warnings: list[str],
) -> list[np.ndarray]:
    labels = frame["label"].astype(str).to_numpy()
    train, val, test = [], [], []
    for label in sorted(set(labels)):  # sorted: the same seed gives the same split whatever the row order
        rows = rng.permutation(np.flatnonzero(labels == label))
        n = len(rows)
        n_val, n_test = _round(n * val_fraction), _round(n * test_fraction)
        while n - n_val - n_test < 1:  # keep at least one training row per class
            if n_test >= n_val:
                n_test -= 1
            else:
                n_val -= 1
        missing = [
            name
            for name, k, f in (("val", n_val, val_fraction), ("test", n_test, test_fraction))
            if f and not k
        ]
        if missing:
            warnings.append(
                f"Class '{label}' has only {n} row(s), so it has none in {' and '.join(missing)}; "
                f"its scores there cannot be measured. Add more '{label}' examples for a fair evaluation."
            )
        val.append(rows[:n_val])
        test.append(rows[n_val : n_val + n_test])
        train.append(rows[n_val + n_test :])
    return [np.concatenate(part).astype(np.int64) for part in (train, val, test)]
