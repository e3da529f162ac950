"""Pick the text and label columns of a table: explicit names, then well-known names, then the content."""

from __future__ import annotations

import pandas as pd

from data.errors import DataError

# Checked in this order; matching ignores case and surrounding spaces.
TEXT_NAMES = (
    "text",
    "sentence",
    "content",
    "message",
    "review",
    "document",
    "body",
    "comment",
    "tweet",
    "description",
)
LABEL_NAMES = ("label", "labels", "class", "category", "target", "topic", "sentiment", "intent")

# A second text-like column at least this long (relative to the longest) makes the choice ambiguous.
_AMBIGUOUS_LENGTH_RATIO = 0.8
_MAX_CLASSES = 1000


def _listing(columns: list[str]) -> str:
    return ", ".join(f"'{c}'" for c in columns)


def resolve_column(wanted: str, columns: list[str], *, flag: str, file: str) -> str:
    """Find a column the user named: exact match, else a unique case-insensitive match."""
    if wanted in columns:
        return wanted
    folded = [c for c in columns if c.strip().casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    raise DataError(
        f"has no column named '{wanted}'. Available columns: {_listing(columns)}.",
        file=file,
        column=wanted,
        hint=f"Pass one of the available columns with {flag}.",
    )


def detect_columns(
    frame: pd.DataFrame,
    *,
    file: str,
    text_column: str | None,
    label_column: str | None,
    want_label: bool,
    nested: dict[str, str],
) -> tuple[str, str | None]:
    """Return ``(text_column, label_column)``; the label is None unless ``want_label``."""
    columns = [str(c) for c in frame.columns]
    text = resolve_column(text_column, columns, flag="--text-column", file=file) if text_column else None
    label = resolve_column(label_column, columns, flag="--label-column", file=file) if label_column else None
    if text is not None and text == label:
        raise DataError(
            "is named as both the text and the label column.",
            file=file,
            column=text,
            hint="Pass different columns with --text-column and --label-column.",
        )
    if text is None:
        text = _by_name(columns, TEXT_NAMES, exclude={label}, role="text", file=file)
    if label is None and want_label:
        label = _by_name(columns, LABEL_NAMES, exclude={text}, role="label", file=file)
    if text is None:
        text = _longest_text_column(frame, columns, exclude={label} | set(nested), file=file)
    if label is None and want_label:
        label = _low_cardinality_column(frame, columns, exclude={text} | set(nested), file=file)
    return text, label


def _by_name(columns: list[str], names: tuple[str, ...], *, exclude: set, role: str, file: str) -> str | None:
    for name in names:
        hits = [c for c in columns if c.strip().casefold() == name and c not in exclude]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise DataError(
                f"has several columns that could be the {role}: {_listing(hits)}.",
                file=file,
                hint=f"Pass the one to use with --{role}-column.",
            )
    return None


def _is_numeric(series: pd.Series) -> bool:
    values = series.dropna()
    if values.empty:
        return True
    return bool(pd.to_numeric(values.astype(str), errors="coerce").notna().mean() > 0.9)


def _longest_text_column(frame: pd.DataFrame, columns: list[str], *, exclude: set, file: str) -> str:
    lengths = {}
    for column in columns:
        if column in exclude or _is_numeric(frame[column]):
            continue
        lengths[column] = float(frame[column].dropna().astype(str).str.len().mean())
    ranked = sorted(lengths, key=lambda c: -lengths[c])
    if not ranked:
        raise DataError(
            f"has no column that holds text. Columns: {_listing(columns)}.",
            file=file,
            hint="Pass the column with the text with --text-column (and the labels with --label-column).",
        )
    if len(ranked) > 1 and lengths[ranked[1]] >= _AMBIGUOUS_LENGTH_RATIO * lengths[ranked[0]]:
        raise DataError(
            f"is ambiguous: columns '{ranked[0]}' and '{ranked[1]}' both look like the text. "
            f"Columns: {_listing(columns)}.",
            file=file,
            hint="Pass --text-column NAME and --label-column NAME to say which column is which.",
        )
    return ranked[0]


def _low_cardinality_column(frame: pd.DataFrame, columns: list[str], *, exclude: set, file: str) -> str:
    limit = max(2, min(_MAX_CLASSES, len(frame) // 2))

    def label_like(column: str) -> bool:
        distinct = frame[column].nunique(dropna=True)
        # Labels repeat: an all-distinct column (an id, a tiny file's text) is not one.
        return 2 <= distinct <= limit and distinct < frame[column].count()

    candidates = [c for c in columns if c not in exclude and label_like(c)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DataError(
            f"has no column that looks like labels (a column with a few distinct values). "
            f"Columns: {_listing(columns)}.",
            file=file,
            hint="Add a label column, or pass the column with the labels with --label-column.",
        )
    raise DataError(
        f"is ambiguous: columns {_listing(candidates)} could all be the labels. Columns: {_listing(columns)}.",
        file=file,
        hint="Pass --label-column NAME (and --text-column NAME) to say which column is which.",
    )
