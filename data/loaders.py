"""Load a user's dataset file into a validated frame with a ``text`` and an optional ``label`` column."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.columns import detect_columns
from data.config import DataConfig
from data.errors import DataError
from data.readers import FORMATS, SAVE_AS_HINT, RawTable, read_table
from data.truncation import TruncationReport, truncate_report

__all__ = [
    "FORMATS",
    "LoadedDataset",
    "TruncationReport",
    "check_file_size",
    "load_configured",
    "load_dataset",
    "max_file_bytes",
    "truncate_report",
]

TEXT_MODES = ("lines", "corpus")
_SHOW_ROWS = 5
# The whole file is read into memory (bytes, text, then one Python string per cell: many times its size),
# so larger files are refused up front with the limit named; the variable raises it.
MAX_FILE_MB_ENV = "TEXTLAB_MAX_FILE_MB"
DEFAULT_MAX_FILE_MB = 100
_MB = 1_000_000
# Labels that spreadsheet and pandas exports write for "missing"; kept as classes, but the user is told.
_MISSING_MARKERS = frozenset({"nan", "NaN", "NAN", "null", "NULL", "None", "N/A", "#N/A"})


@dataclass
class LoadedDataset:
    """A loaded file. ``frame`` has ``text`` (and ``label`` when labelled) as strings; its index holds the
    row numbers users see (``row_convention`` says which), so later messages can point at a row."""

    frame: pd.DataFrame
    text_column: str | None  # None for plain-text files
    label_column: str | None
    source: str
    warnings: list[str] = field(default_factory=list)
    format: str = ""
    text_mode: str | None = None  # "lines" / "corpus" for .txt files
    row_convention: str = ""
    empty_rows_dropped: int = 0
    cut_at_max_rows: int | None = None  # set when the file had more rows than max_rows
    sheets: list[str] = field(default_factory=list)  # an Excel workbook's sheets, in order
    sheet: str | None = None  # the sheet read
    truncation: TruncationReport | None = None  # filled in by the engine after tokenizing

    @property
    def labelled(self) -> bool:
        return "label" in self.frame.columns

    @property
    def classes(self) -> list[str]:
        return sorted(self.frame["label"].unique().tolist()) if self.labelled else []


def load_dataset(
    path: str | os.PathLike,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    text_mode: str = "corpus",
    need_labels: bool = False,
    max_rows: int | None = None,
    sheet: str | None = None,
    merge_label_case: bool = False,
) -> LoadedDataset:
    """Read, validate and normalize ``path``. Raises ``DataError`` (never anything else) for bad input.

    Labels are read when ``need_labels`` (detected if ``label_column`` is None) or when ``label_column``
    is given. Plain-text files give one document per non-empty line (``text_mode="lines"``) or a single
    document (``"corpus"``). ``sheet`` names an Excel workbook's sheet (default: the first);
    ``merge_label_case`` makes labels that differ only by case one class.
    """
    file = Path(path)
    name = str(path)
    fmt = _check_file(file, name)
    if text_mode not in TEXT_MODES:
        raise DataError(f"unknown text mode '{text_mode}'.", hint="Use 'lines' or 'corpus'.")
    if max_rows is not None and max_rows < 1:
        raise DataError(
            f"max_rows must be at least 1, got {max_rows}.", hint="Leave it empty to use every row."
        )
    want_label = need_labels or label_column is not None
    if fmt == "txt" and want_label:
        raise DataError(
            "is a plain-text file, so it has no labels.",
            file=name,
            hint="Use a CSV/TSV/JSONL/Parquet file with a label column, or pick a language-model task.",
        )
    raw = read_table(file, fmt, text_mode=text_mode, max_rows=max_rows, sheet=sheet)
    warnings = list(raw.warnings)
    if fmt == "txt":
        text_col, label_col = None, None
        texts = raw.frame["text"].astype(object)
    else:
        text_col, label_col = detect_columns(
            raw.frame,
            file=name,
            text_column=text_column,
            label_column=label_column,
            want_label=want_label,
            nested=raw.nested,
        )
        texts = _text_values(raw, text_col, name)
    empty = pd.Series([not t.strip() for t in texts], index=texts.index, dtype=bool)
    if empty.all():
        raise DataError(
            "is empty in every row: there is no text to learn from.",
            file=name,
            column=text_col,
            hint="Pass the column that holds the text with --text-column."
            if text_col
            else "Put some text in the file.",
        )
    frame = pd.DataFrame({"text": texts})
    if label_col is not None:
        _refuse_nested(raw, label_col, name, "labels", "one plain label per row with --label-column")
        spaced = _spaced_labels(raw.frame[label_col])
        frame["label"] = _per_distinct(raw.frame[label_col], _label_to_str)
    dropped = int(empty.sum())
    if dropped:
        warnings.append(
            f"Dropped {dropped} row(s) with empty text in column '{text_col}': {_rows(empty[empty].index)} "
            f"({raw.row_convention})."
        )
        frame = frame[~empty.to_numpy()]
    if label_col is not None:
        _check_labels(frame, name, label_col, raw.row_convention, need_labels)
        frame["label"] = frame["label"].astype(str)
        if spaced:
            warnings.append(
                f"Column '{label_col}' has labels with spaces around them ({', '.join(spaced)}); the spaces "
                "were removed, so each is the same class as its plain spelling."
            )
        warnings.extend(_case_variants(frame, label_col, raw.row_convention, merge_label_case))
        marked = frame["label"].isin(_MISSING_MARKERS)
        if marked.any():
            warnings.append(
                f"Column '{label_col}' has {int(marked.sum())} row(s) labelled like a missing value "
                f"({', '.join(sorted(set(frame['label'][marked])))}): rows {_rows(frame.index[marked.to_numpy()])} "
                f"({raw.row_convention}). They count as a class of their own; if they mean 'no label', fill them "
                "in or delete those rows."
            )
    if raw.cut_at is not None:
        warnings.append(f"Kept the first {raw.cut_at} rows of '{name}' (max_rows); the rest were ignored.")
    frame.index.name = "row"
    return LoadedDataset(
        frame=frame,
        text_column=text_col,
        label_column=label_col,
        source=name,
        warnings=warnings,
        format=raw.format,
        text_mode=text_mode if fmt == "txt" else None,
        row_convention=raw.row_convention,
        empty_rows_dropped=dropped,
        cut_at_max_rows=raw.cut_at,
        sheets=raw.sheets,
        sheet=raw.sheet,
    )


def load_configured(d: DataConfig, *, need_labels: bool) -> LoadedDataset:
    """``load_dataset`` with every setting a run's DataConfig holds (labels read only when ``need_labels``)."""
    return load_dataset(
        d.path,
        text_column=d.text_column,
        label_column=d.label_column if need_labels else None,
        text_mode=d.text_mode,
        need_labels=need_labels,
        max_rows=d.max_rows,
        sheet=d.sheet,
        merge_label_case=d.merge_label_case,
    )


def _check_file(file: Path, name: str) -> str:
    if not file.exists():
        raise DataError(
            "was not found.", file=name, hint=f"Check the path (relative paths start at {Path.cwd()})."
        )
    if file.is_dir():
        raise DataError("is a folder, not a file.", file=name, hint="Pass the path of the data file itself.")
    fmt = FORMATS.get(file.suffix.lower())
    if fmt is None:
        supported = ", ".join(FORMATS)
        hint = SAVE_AS_HINT
        if file.suffix.lower() in (".xls", ".ods"):
            hint = "Save the sheet as .xlsx or as CSV (UTF-8) from your spreadsheet program."
        raise DataError(
            f"has an unsupported file type '{file.suffix or '(none)'}'; supported: {supported}.",
            file=name,
            hint=hint,
        )
    if file.stat().st_size == 0:
        raise DataError("is empty (0 bytes).", file=name, hint="Choose the file that holds your data.")
    check_file_size(file, name)
    return fmt


def max_file_bytes() -> int:
    """The largest dataset file we load: ``TEXTLAB_MAX_FILE_MB`` megabytes, 100 unless set."""
    raw = os.environ.get(MAX_FILE_MB_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_FILE_MB * _MB
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = math.nan
    if not (math.isfinite(megabytes) and megabytes > 0):
        raise DataError(
            f"the environment variable {MAX_FILE_MB_ENV}={raw!r} is not a size in megabytes.",
            hint=f"Set it to a positive number such as 300, or unset it for the default of {DEFAULT_MAX_FILE_MB} MB.",
        )
    return int(megabytes * _MB)


def check_file_size(path: str | os.PathLike, name: str | None = None) -> None:
    """Refuse a file over ``max_file_bytes()`` with a DataError naming the limit and how to raise it."""
    size, limit = Path(path).stat().st_size, max_file_bytes()
    if size > limit:
        raise DataError(
            f"is {size / _MB:,.1f} MB, over the {limit / _MB:g} MB limit for a table held in memory "
            "(the whole file is loaded, which takes many times its size). The limit does not apply to a "
            "plain-text corpus for a language model: a .txt file or a folder of them trains as a stream "
            "(train --task causal_lm).",
            file=name or str(path),
            hint=f"Load a sample of it (for example its first 500,000 lines), or, if this machine has the "
            f"memory, raise the limit with the environment variable {MAX_FILE_MB_ENV}, e.g. "
            f"{MAX_FILE_MB_ENV}={math.ceil(size / _MB / 100) * 100}, set before starting the app or command.",
        )


def _refuse_nested(raw: RawTable, column: str, name: str, wanted: str, instead: str) -> None:
    """A column of lists or objects (JSONL, Parquet) is not text or labels: say which and what to pass."""
    if column in raw.nested:
        raise DataError(
            f"holds nested values ({raw.nested[column]}), not {wanted}.",
            file=name,
            column=column,
            hint=f"Pass a column with {instead}, or flatten the data first.",
        )


def _text_values(raw: RawTable, column: str, name: str) -> pd.Series:
    _refuse_nested(raw, column, name, "plain text", "plain strings with --text-column")
    values = raw.frame[column]
    if isinstance(values.dtype, pd.StringDtype):  # CSV, TSV, Excel: strings already, only blanks missing
        return values.fillna("").astype(object)
    return values.map(lambda v: "" if _missing(v) else str(v)).astype(object)


def _per_distinct(values: pd.Series, convert: Callable[[object], str | None]) -> pd.Series:
    """``convert`` once per distinct string (a million labelled rows hold a handful of labels), else per cell."""
    if not isinstance(values.dtype, pd.StringDtype):  # JSON/Parquet cells: 1, 1.0 and True hash alike
        return values.map(convert).astype(object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.array([convert(u) for u in uniques] + [None], dtype=object)  # code -1 (missing) -> None
    return pd.Series(table[codes], index=values.index, dtype=object)


def _missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _label_to_str(value: object) -> str | None:
    """0/1 stay "0"/"1"; integral floats (Parquet ints with gaps become floats) drop the ".0"."""
    if _missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, list | dict | np.ndarray):
        return None
    text = str(value).strip()
    return text or None


def _rows(index: pd.Index) -> str:
    numbers = [str(n) for n in index[:_SHOW_ROWS]]
    more = len(index) - len(numbers)
    return ", ".join(numbers) + (f" and {more} more" if more else "")


def _spaced_labels(values: pd.Series) -> list[str]:
    """Labels written with surrounding whitespace ('spam ', quoted as the file has them), at most five."""
    distinct = values.dropna().unique() if isinstance(values.dtype, pd.StringDtype) else values
    spaced = sorted({v for v in distinct if isinstance(v, str) and v.strip() and v != v.strip()})
    return [repr(v) for v in spaced[:_SHOW_ROWS]] + (
        [f"{len(spaced) - _SHOW_ROWS} more"] if len(spaced) > _SHOW_ROWS else []
    )


def _case_variants(frame: pd.DataFrame, column: str, convention: str, merge: bool) -> list[str]:
    """Warn about (or, when ``merge``, join) labels that differ only by case: 'Spam' and 'spam'."""
    counts = frame["label"].value_counts()
    groups: dict[str, list[str]] = {}
    for label in counts.index:  # most frequent first, so the merged class keeps the usual spelling
        groups.setdefault(label.casefold(), []).append(label)
    variants = [spellings for spellings in groups.values() if len(spellings) > 1]
    if not variants:
        return []
    listed = "; ".join(" / ".join(f"'{s}' ({counts[s]} rows)" for s in spellings) for spellings in variants)
    if merge:
        frame["label"] = (
            frame["label"]
            .map({s: spellings[0] for spellings in variants for s in spellings[1:]})
            .fillna(frame["label"])
        )
        return [
            f"Column '{column}': merged labels that differ only by case into the most frequent spelling: {listed}."
        ]
    rare = [s for spellings in variants for s in spellings[1:]]
    rows = frame.index[frame["label"].isin(rare).to_numpy()]
    return [
        f"Column '{column}' has labels that differ only by case: {listed}; they count as different classes. "
        f"The rarer spellings are in rows {_rows(rows)} ({convention}). If they mean the same class, merge them "
        "(the Data tab's 'Merge labels that differ only by case' box; CLI: --merge-label-case) or fix the file."
    ]


def _check_labels(frame: pd.DataFrame, name: str, column: str, convention: str, need_labels: bool) -> None:
    blank = frame["label"].isna()
    if blank.any():
        raise DataError(
            f"{int(blank.sum())} row(s) have no label: rows {_rows(frame.index[blank.to_numpy()])} ({convention}).",
            file=name,
            column=column,
            hint="Fill in a label for every row, or delete those rows.",
        )
    classes = frame["label"].unique()
    if need_labels and len(classes) < 2:
        raise DataError(
            f"has only one class ('{classes[0]}'); a classifier needs at least two.",
            file=name,
            column=column,
            hint="Add examples of the other classes, or check that --label-column names the right column.",
        )
