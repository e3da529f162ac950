"""Stray control characters (NUL and kin) inside text files: marked before parsing, removed after, rows named."""

from __future__ import annotations

import re

import pandas as pd

# The characters textdecode counts as control bytes; tab, line breaks and form feed are text.
_STRAY = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Private-use characters: a parser keeps them inside a field (a raw NUL can end a C string or a JSON
# document), so each stray character becomes one of these until the rows are known.
_MARKS = "".join(chr(c) for c in range(0xE000, 0xE010))
_SHOW_ROWS = 5


def mark_strays(text: str) -> tuple[str, str | None]:
    """Replace stray control characters by a marker absent from ``text``; the marker is None when none."""
    if not _STRAY.search(text):
        return text, None
    mark = next((m for m in _MARKS if m not in text), None)
    if mark is None:  # every marker already occurs: drop the strays without naming rows
        return _STRAY.sub("", text), ""
    return _STRAY.sub(mark, text), mark


def strip_marks(frame: pd.DataFrame, mark: str) -> tuple[pd.DataFrame, list[object], int]:
    """Remove ``mark`` from every string cell and column name: (frame, the rows that held it, how many)."""
    frame = frame.rename(columns=lambda c: c.replace(mark, "") if isinstance(c, str) else c)
    rows: set[object] = set()
    count = 0
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object and not pd.api.types.is_string_dtype(values):
            continue
        held = values.map(lambda v: v.count(mark) if isinstance(v, str) else 0)
        hit = held > 0
        if hit.any():
            count += int(held.sum())
            rows.update(frame.index[hit.to_numpy()])
            frame[column] = values.map(lambda v: v.replace(mark, "") if isinstance(v, str) else v)
    return frame, sorted(rows), count


def stray_warning(name: str, count: int, rows: list[object], convention: str) -> str:
    """The warning that says what was removed and where to look."""
    shown = ", ".join(str(r) for r in rows[:_SHOW_ROWS])
    more = f" and {len(rows) - _SHOW_ROWS} more" if len(rows) > _SHOW_ROWS else ""
    where = f" from rows {shown}{more} ({convention})" if rows else ""
    return (
        f"File '{name}' held {count or 'some'} stray control character(s) such as NUL inside its text; they were "
        f"removed{where}. Check those rows read as intended; re-export the file to get rid of this warning."
    )
