"""Read one file into a raw table by its extension (bytes decoded by data.textdecode), rows numbered for users."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from data.errors import DataError
from data.stray_controls import mark_strays, stray_warning, strip_marks
from data.textdecode import SAVE_AS_HINT, decode_text

FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".txt": "txt",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}

# Row-number conventions, quoted in messages so users know how to find the row.
SPREADSHEET_ROWS = "row numbers as a spreadsheet shows them: the header is row 1, the first data row is row 2"
FILE_LINES = "line numbers in the file, starting at 1"
RECORDS = "record numbers, 1 = the first record"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class RawTable:
    """A parsed file before column selection. ``frame.index`` holds the user-facing row numbers."""

    frame: pd.DataFrame
    format: str
    row_convention: str
    warnings: list[str] = field(default_factory=list)
    nested: dict[str, str] = field(default_factory=dict)  # column -> type, for list/struct values
    cut_at: int | None = None  # max_rows, when the file had more rows than that
    sheets: list[str] = field(default_factory=list)  # an Excel workbook's sheets, in order
    sheet: str | None = None  # the sheet read


def read_table(
    path: Path, fmt: str, *, text_mode: str, max_rows: int | None, sheet: str | None = None
) -> RawTable:
    """Parse ``path`` (already known to exist and be non-empty) as ``fmt``; ``sheet`` picks a workbook's sheet."""
    name = str(path)
    if fmt == "parquet":
        return _read_parquet(path, name, max_rows)
    if fmt == "xlsx":
        return _read_excel(path, name, sheet, max_rows)
    text, warnings = decode_text(path.read_bytes(), name)
    text, mark = mark_strays(text)
    if fmt in ("csv", "tsv"):
        table = _read_delimited(text, "\t" if fmt == "tsv" else ",", name, max_rows)
    elif fmt == "jsonl":
        table = _read_jsonl(text, name, max_rows)
    elif fmt == "json":
        table = _read_json(text, name, max_rows)
    else:
        table = _read_plain(text, name, text_mode, max_rows)
    if mark is not None:
        warnings.append(_unmark(table, mark, text if fmt == "txt" and text_mode == "corpus" else None, name))
    table.warnings[:0] = warnings
    return table


def _unmark(table: RawTable, mark: str, corpus: str | None, name: str) -> str:
    """Remove the stray-control markers from ``table`` and say where they were (lines, for one corpus)."""
    if not mark:
        return stray_warning(name, 0, [], table.row_convention)
    table.frame, rows, count = strip_marks(table.frame, mark)
    if corpus is not None:
        rows = [n for n, line in enumerate(_LINE_BREAK.split(corpus), start=1) if mark in line]
    return stray_warning(name, count, rows, table.row_convention)


def _cut(frame: pd.DataFrame, max_rows: int | None) -> tuple[pd.DataFrame, int | None]:
    """Keep the first ``max_rows`` rows; readers fetch one extra row so we know whether we cut."""
    if max_rows is not None and len(frame) > max_rows:
        return frame.iloc[:max_rows], max_rows
    return frame, None


def _read_delimited(text: str, sep: str, name: str, max_rows: int | None) -> RawTable:
    kind = "TSV" if sep == "\t" else "CSV"
    try:
        # dtype=str keeps labels like 0/1 and texts like "NA" exactly as written; only blanks are missing.
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            nrows=None if max_rows is None else max_rows + 1,
        )
    except pd.errors.EmptyDataError:
        raise DataError(
            "holds only blank lines: there is no header and no data.", file=name, hint=SAVE_AS_HINT
        ) from None
    except pd.errors.ParserError as err:
        raise _parser_error(str(err), name, kind, text, sep) from None
    if frame.empty:
        columns = ", ".join(str(c) for c in frame.columns)
        raise DataError(
            f"has a header row ({columns}) but no data rows.",
            file=name,
            hint="Add at least one row of data below the header.",
        )
    frame, cut_at = _cut(frame, max_rows)
    frame.index = pd.RangeIndex(2, 2 + len(frame))  # spreadsheet rows: header is row 1
    return RawTable(frame, kind.lower(), SPREADSHEET_ROWS, cut_at=cut_at)


def _parser_error(message: str, name: str, kind: str, text: str, sep: str) -> DataError:
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if fields:
        expected, row, saw = (int(g) for g in fields.groups())
        ragged = _ragged_rows(text, sep, expected)
        also = ""
        if len(ragged) > 1:
            shown = ", ".join(str(r) for r in ragged[:10]) + (
                f" and {len(ragged) - 10} more" if len(ragged) > 10 else ""
            )
            also = f" {len(ragged)} rows have more fields than the header: {shown}."
        return DataError(
            f"has {saw} fields but the header has {expected} ({SPREADSHEET_ROWS}).{also}",
            file=name,
            row=row,
            hint=f'Put text that contains the separator in double quotes ("...") or fix those rows of the {kind}.',
        )
    eof = re.search(r"EOF inside string starting at row (\d+)", message)
    if eof:
        return DataError(
            f"opens a quoted field that is never closed ({SPREADSHEET_ROWS}).",
            file=name,
            row=int(eof.group(1)) + 1,
            hint='Add the missing closing double quote ("), or double any quote inside quoted text ("").',
        )
    return DataError(f"could not be parsed as {kind}: {message.strip()}", file=name, hint=SAVE_AS_HINT)


def _ragged_rows(text: str, sep: str, expected: int) -> list[int]:
    """Spreadsheet row numbers of the records with more fields than the header (quoted newlines respected)."""
    import csv

    try:
        return [
            n
            for n, record in enumerate(csv.reader(io.StringIO(text), delimiter=sep), start=1)
            if len(record) > expected
        ]
    except csv.Error:  # the C parser's verdict stands; this list only adds detail
        return []


def _records_table(records: list[dict[str, Any]], numbers: list[int], fmt: str, convention: str) -> RawTable:
    frame = pd.DataFrame.from_records(records)
    frame.index = pd.Index(numbers)
    nested = {}
    for column in frame.columns:
        kinds = {type(v).__name__ for v in frame[column] if isinstance(v, list | dict)}
        if kinds:
            nested[str(column)] = " / ".join(sorted("list" if k == "list" else "object" for k in kinds))
    frame.columns = [str(c) for c in frame.columns]
    return RawTable(frame, fmt, convention, nested=nested)


def _read_jsonl(text: str, name: str, max_rows: int | None) -> RawTable:
    records, numbers = [], []
    # \r\n, \n and a lone \r end a line (files edited on several systems mix them); not splitlines():
    # JSON strings may legally hold U+2028 and other line separators, but never a raw \r or \n.
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        line = line.strip()
        if not line:
            continue
        if max_rows is not None and len(records) == max_rows:
            table = _records_table(records, numbers, "jsonl", FILE_LINES)
            table.cut_at = max_rows
            return table
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"line {number} is not valid JSON ({err.msg} at character {err.colno}).",
                file=name,
                row=number,
                hint='Fix or delete that line: each line must be one JSON object, like {"text": "...", "label": "..."}.',
            ) from None
        if not isinstance(record, dict):
            raise DataError(
                f"line {number} is a JSON {type(record).__name__}, not an object.",
                file=name,
                row=number,
                hint='Each line must be one JSON object, like {"text": "...", "label": "..."}.',
            )
        records.append(record)
        numbers.append(number)
    if not records:
        raise DataError(
            "holds no JSON objects (only blank lines).", file=name, hint="Add one JSON object per line."
        )
    return _records_table(records, numbers, "jsonl", FILE_LINES)


def _read_json(text: str, name: str, max_rows: int | None) -> RawTable:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as err:
        hint = "Fix the JSON syntax there; the file must hold an array of objects: [{...}, {...}]."
        if err.msg == "Extra data":
            hint = "This looks like JSON Lines (one object per line): rename the file to .jsonl."
        raise DataError(
            f"is not valid JSON: {err.msg} at line {err.lineno}, character {err.colno}.",
            file=name,
            row=err.lineno,
            hint=hint,
        ) from None
    if isinstance(payload, dict):
        lists = [v for v in payload.values() if isinstance(v, list)]
        if len(payload) == 1 and lists:  # {"data": [{...}, ...]}
            payload = lists[0]
        elif lists and len(lists) == len(payload) and len({len(v) for v in lists}) == 1:  # {"col": [...]}
            payload = pd.DataFrame(payload).to_dict("records")
    if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
        raise DataError(
            'must hold an array of records (JSON objects), like [{"text": "...", "label": "..."}].',
            file=name,
            hint="Convert it to that shape, or use JSON Lines (.jsonl) with one object per line.",
        )
    if not payload:
        raise DataError(
            "holds an empty array: there are no records.", file=name, hint="Add at least one record."
        )
    cut_at = None
    if max_rows is not None and len(payload) > max_rows:
        payload, cut_at = payload[:max_rows], max_rows
    table = _records_table(payload, list(range(1, len(payload) + 1)), "json", RECORDS)
    table.cut_at = cut_at
    return table


def _read_parquet(path: Path, name: str, max_rows: int | None) -> RawTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise DataError(
            f"is not a readable Parquet file ({err}).",
            file=name,
            hint="Re-export it, or save the data as CSV.",
        ) from None
    if table.num_rows == 0:
        columns = ", ".join(table.column_names)
        raise DataError(
            f"has columns ({columns}) but no rows.", file=name, hint="Add at least one row of data."
        )
    nested = {f.name: str(f.type) for f in table.schema if pa.types.is_nested(f.type)}
    cut_at = None
    if max_rows is not None and table.num_rows > max_rows:
        table, cut_at = table.slice(0, max_rows), max_rows
    frame = table.to_pandas()
    frame.columns = [str(c) for c in frame.columns]
    frame.index = pd.RangeIndex(1, 1 + len(frame))
    return RawTable(frame, "parquet", RECORDS, nested=nested, cut_at=cut_at)


def _read_plain(text: str, name: str, text_mode: str, max_rows: int | None) -> RawTable:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text_mode == "corpus":
        frame = pd.DataFrame({"text": [text]}, index=pd.Index([1]))
        return RawTable(frame, "txt", FILE_LINES)
    # Blank lines separate documents in "lines" mode, so they are not reported as dropped rows.
    pairs = [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    cut_at = None
    if max_rows is not None and len(pairs) > max_rows:
        pairs, cut_at = pairs[:max_rows], max_rows
    frame = pd.DataFrame({"text": [line for _, line in pairs]}, index=pd.Index([n for n, _ in pairs]))
    return RawTable(frame, "txt", FILE_LINES, cut_at=cut_at)


def _read_excel(path: Path, name: str, sheet: str | None, max_rows: int | None) -> RawTable:
    """The first (or the chosen) sheet of an Excel workbook, cells as strings like the CSV reader's."""
    import zipfile

    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except ImportError:
        raise DataError(
            "is an Excel workbook, and reading one needs the openpyxl package.",
            file=name,
            hint="Install it (pip install openpyxl), or save the sheet as CSV (UTF-8) from your spreadsheet program.",
        ) from None
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as err:
        raise DataError(
            f"is not a readable Excel workbook ({err}).",
            file=name,
            hint="Open it in your spreadsheet program and save it again as .xlsx, or save the sheet as CSV (UTF-8).",
        ) from None
    with book:
        names = [str(n) for n in book.sheet_names]
        listed = ", ".join(f"'{n}'" for n in names)
        chosen = _chosen_sheet(names, sheet)
        if chosen is None:
            raise DataError(
                f"has no sheet '{sheet}'; its sheets are {listed}.",
                file=name,
                hint="Pass one of those names, or a number (1 = the first sheet), as the sheet.",
            )
        frame = pd.read_excel(
            book,
            sheet_name=chosen,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            nrows=None if max_rows is None else max_rows + 1,
        )
    frame = frame.dropna(how="all")  # rows a spreadsheet shows as empty
    if frame.empty:
        raise DataError(
            f"has no data rows in sheet '{chosen}' (sheets: {listed}).",
            file=name,
            hint="Put a header row and the data in that sheet, or pick the sheet that holds them.",
        )
    frame, cut_at = _cut(frame, max_rows)
    frame.columns = [str(c) for c in frame.columns]
    frame.index = pd.Index(frame.index + 2)  # spreadsheet rows: the header is row 1
    warnings = []
    if len(names) > 1 and sheet is None:
        warnings.append(
            f"Workbook '{name}' has {len(names)} sheets ({listed}); read the first, '{chosen}'. "
            "Choose another with the Sheet setting (Data tab; CLI: --sheet NAME)."
        )
    return RawTable(
        frame, "xlsx", SPREADSHEET_ROWS, warnings=warnings, cut_at=cut_at, sheets=names, sheet=chosen
    )


def _chosen_sheet(names: list[str], sheet: str | None) -> str | None:
    if sheet is None:
        return names[0]
    if sheet in names:
        return sheet
    if sheet.strip().isdigit() and 1 <= int(sheet) <= len(names):
        return names[int(sheet) - 1]
    return None
