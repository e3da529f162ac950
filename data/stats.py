"""Describe a loaded dataset: size, class balance, text lengths and duplicates, as a JSON-ready dict."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from data.loaders import LoadedDataset

PERCENTILES = (50, 90, 99)


def length_summary(lengths: np.ndarray) -> dict[str, float | int]:
    """p50/p90/p99/max/mean of a length array (zeros for an empty one)."""
    if lengths.size == 0:
        return {**{f"p{p}": 0 for p in PERCENTILES}, "max": 0, "mean": 0.0}
    values = np.percentile(lengths, PERCENTILES)
    summary: dict[str, float | int] = {f"p{p}": float(v) for p, v in zip(PERCENTILES, values, strict=True)}
    summary["max"] = int(lengths.max())
    summary["mean"] = float(lengths.mean())
    return summary


def describe(loaded: LoadedDataset | pd.DataFrame) -> dict[str, Any]:
    """Summary statistics; every value is a plain int/float/str/list/dict so ``json.dumps`` works."""
    frame = loaded.frame if isinstance(loaded, LoadedDataset) else loaded
    texts = frame["text"].astype(str)
    chars = texts.str.len().to_numpy()
    words = texts.str.split().str.len().fillna(0).to_numpy()
    duplicated = texts.duplicated(keep="first")
    report: dict[str, Any] = {
        "rows": int(len(frame)),
        "labelled": "label" in frame.columns,
        "chars": length_summary(chars),
        "words": length_summary(words),
        "total_chars": int(chars.sum()),
        "duplicate_texts": int(duplicated.sum()),
        "classes": [],
        "num_classes": 0,
        "imbalance_ratio": None,
    }
    if isinstance(loaded, LoadedDataset):
        report.update(
            source=loaded.source,
            format=loaded.format,
            text_column=loaded.text_column,
            label_column=loaded.label_column,
            empty_rows_dropped=int(loaded.empty_rows_dropped),
            warnings=list(loaded.warnings),
        )
    if "label" in frame.columns and len(frame):
        counts = frame["label"].astype(str).value_counts()
        # Sort by count (desc) then label, so the order is stable across pandas versions.
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        report["classes"] = [
            {"label": str(label), "count": int(n), "fraction": float(n) / len(frame)} for label, n in ordered
        ]
        report["num_classes"] = len(ordered)
        report["imbalance_ratio"] = float(ordered[0][1]) / float(ordered[-1][1])
        # Same text under different labels: label noise the user may want to fix.
        labels_per_text = frame.groupby(texts, sort=False)["label"].nunique()
        report["conflicting_duplicates"] = int((labels_per_text > 1).sum())
    return report
