"""Every kind of bad input raises DataError naming the file/row/column and saying what to do."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.errors import DataError
from data.loaders import load_dataset

PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00"


def error_for(path, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        load_dataset(path, **kwargs)
    message = str(info.value)
    assert "What to do:" in message  # every error carries a hint
    return message


def test_file_not_found(tmp_path):
    message = error_for(tmp_path / "nope.csv")
    assert "nope.csv" in message and "not found" in message and "Check the path" in message


def test_folder_instead_of_file(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    assert "is a folder" in error_for(tmp_path / "dir.csv")


def test_empty_file(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    message = error_for(tmp_path / "empty.csv")
    assert "empty.csv" in message and "empty (0 bytes)" in message


def test_blank_lines_only(tmp_path):
    (tmp_path / "blank.csv").write_text("\n\n\n")
    assert "only blank lines" in error_for(tmp_path / "blank.csv")


def test_header_only(tmp_path):
    (tmp_path / "header.csv").write_text("text,label\n")
    message = error_for(tmp_path / "header.csv")
    assert "header.csv" in message and "no data rows" in message and "text, label" in message


def test_png_renamed_to_csv(tmp_path):
    (tmp_path / "photo.csv").write_bytes(PNG_HEADER + bytes(range(256)) * 4)
    message = error_for(tmp_path / "photo.csv")
    assert "photo.csv" in message and "not a text file" in message and "PNG image" in message
    assert "CSV" in message  # hint says what to export instead


def test_nul_bytes_are_binary(tmp_path):
    (tmp_path / "blob.txt").write_bytes(b"some text\x00\x00\x01more")
    message = error_for(tmp_path / "blob.txt")
    assert "blob.txt" in message and "NUL bytes" in message and "UTF-8" in message


def test_undecodable_binary_without_nul(tmp_path):
    (tmp_path / "noise.csv").write_bytes(bytes([0x81, 0x02, 0x03, 0x9D, 0x10, 0x11, 0x12, 0xFF] * 200))
    message = error_for(tmp_path / "noise.csv")
    assert "noise.csv" in message and "binary data" in message


def test_unsupported_extension(tmp_path):
    (tmp_path / "sheet.ods").write_bytes(b"PK\x03\x04whatever")
    message = error_for(tmp_path / "sheet.ods")
    assert "sheet.ods" in message and "unsupported file type '.ods'" in message and ".csv" in message
    assert "Save the sheet as .xlsx or as CSV" in message


def test_missing_named_column_lists_available(tmp_path):
    (tmp_path / "d.csv").write_text("review,stars\ngood,5\nbad,1\n")
    message = error_for(tmp_path / "d.csv", text_column="body")
    assert "d.csv" in message and "column 'body'" in message and "'review', 'stars'" in message
    assert "--text-column" in message
    message = error_for(tmp_path / "d.csv", label_column="rating")
    assert "column 'rating'" in message and "--label-column" in message


def test_ambiguous_text_columns(tmp_path):
    (tmp_path / "pairs.csv").write_text(
        "question,answer,label\nwhat is the capital of France,it is Paris of course,a\n"
        "how tall is the tower here,about three hundred metres,b\n"
    )
    message = error_for(tmp_path / "pairs.csv", need_labels=True)
    assert (
        "pairs.csv" in message
        and "ambiguous" in message
        and "'question'" in message
        and "'answer'" in message
    )
    assert "--text-column" in message and "--label-column" in message


def test_ambiguous_label_columns(tmp_path):
    rows = "\n".join(f"a rather long text about item {i},{'xy'[i % 2]},{'pq'[i % 2]}" for i in range(10))
    (tmp_path / "labels.csv").write_text("words,first,second\n" + rows + "\n")
    message = error_for(tmp_path / "labels.csv", need_labels=True)
    assert (
        "ambiguous" in message
        and "'first'" in message
        and "'second'" in message
        and "--label-column" in message
    )


def test_no_label_column_when_labels_needed(tmp_path):
    (tmp_path / "ids.csv").write_text("words,id\nsome text here,1\nmore text here,2\n")
    message = error_for(tmp_path / "ids.csv", need_labels=True)
    assert "ids.csv" in message and "looks like labels" in message and "--label-column" in message


def test_single_class(tmp_path):
    (tmp_path / "one.csv").write_text("text,label\na,spam\nb,spam\nc,spam\n")
    message = error_for(tmp_path / "one.csv", need_labels=True)
    assert "one.csv" in message and "column 'label'" in message and "only one class ('spam')" in message


def test_blank_labels_name_spreadsheet_rows(tmp_path):
    rows = ["text,label", "fine,a", "no label,", "ok,b", "also none,  ", "x,a", "y,", "z,", "w,", "v,"]
    (tmp_path / "holes.csv").write_text("\n".join(rows) + "\n")
    message = error_for(tmp_path / "holes.csv", need_labels=True)
    assert "holes.csv" in message and "column 'label'" in message
    assert "6 row(s) have no label: rows 3, 5, 7, 8, 9 and 1 more" in message
    assert "header is row 1" in message and "Fill in a label" in message


def test_blank_labels_in_jsonl_use_line_numbers(tmp_path):
    lines = [
        json.dumps({"text": "a", "label": "x"}),
        json.dumps({"text": "b", "label": None}),
        json.dumps({"text": "c"}),
    ]
    (tmp_path / "l.jsonl").write_text("\n".join(lines))
    message = error_for(tmp_path / "l.jsonl", need_labels=True)
    assert "rows 2, 3" in message and "line numbers" in message


def test_text_column_entirely_empty(tmp_path):
    (tmp_path / "hollow.csv").write_text("text,label\n,a\n  ,b\n")
    message = error_for(tmp_path / "hollow.csv", need_labels=True)
    assert "hollow.csv" in message and "column 'text'" in message and "empty in every row" in message
    assert "--text-column" in message


def test_txt_with_only_blank_lines(tmp_path):
    (tmp_path / "spaces.txt").write_text("   \n\t\n")
    assert "empty in every row" in error_for(tmp_path / "spaces.txt", text_mode="lines")


def test_jsonl_broken_line(tmp_path):
    good = json.dumps({"text": "fine", "label": "a"})
    (tmp_path / "broken.jsonl").write_text(f'{good}\n{good}\n\n{{"text": "oops", "label": }}\n{good}\n')
    message = error_for(tmp_path / "broken.jsonl")
    assert "broken.jsonl" in message and "row 4" in message and "line 4 is not valid JSON" in message
    assert "Fix or delete that line" in message


def test_jsonl_line_that_is_not_an_object(tmp_path):
    (tmp_path / "list.jsonl").write_text('{"text": "a"}\n["b"]\n')
    assert "line 2 is a JSON list, not an object" in error_for(tmp_path / "list.jsonl")


def test_json_lines_saved_as_json(tmp_path):
    (tmp_path / "lines.json").write_text('{"text": "a"}\n{"text": "b"}\n')
    message = error_for(tmp_path / "lines.json")
    assert "lines.json" in message and "line 2" in message and "rename the file to .jsonl" in message


def test_csv_row_with_too_many_fields(tmp_path):
    (tmp_path / "commas.csv").write_text("text,label\nfine,a\nnot, quoted, text,b\nok,b\n")
    message = error_for(tmp_path / "commas.csv")
    assert "commas.csv" in message and "row 3" in message and "4 fields but the header has 2" in message
    assert "double quotes" in message


def test_csv_unclosed_quote(tmp_path):
    (tmp_path / "quote.csv").write_text('text,label\nfine,a\n"never closed,b\nok,b\n')
    message = error_for(tmp_path / "quote.csv")
    assert "row 3" in message and "never closed" in message


def test_parquet_nested_text_column(tmp_path):
    table = pa.table({"text": [["a", "b"], ["c"]], "label": ["x", "y"]})
    pq.write_table(table, tmp_path / "nested.parquet")
    message = error_for(tmp_path / "nested.parquet", need_labels=True)
    assert "nested.parquet" in message and "column 'text'" in message and "nested values (list<" in message
    assert "--text-column" in message


def test_parquet_struct_column_when_named(tmp_path):
    table = pa.table({"doc": [{"t": "a"}, {"t": "b"}], "label": ["x", "y"]})
    pq.write_table(table, tmp_path / "struct.parquet")
    assert "nested values (struct<" in error_for(tmp_path / "struct.parquet", text_column="doc")


def test_corrupt_parquet(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"this is not parquet at all")
    message = error_for(tmp_path / "bad.parquet")
    assert "bad.parquet" in message and "not a readable Parquet file" in message


def test_plain_text_has_no_labels(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    message = error_for(tmp_path / "notes.txt", need_labels=True)
    assert "notes.txt" in message and "no labels" in message and "label column" in message


def test_bad_text_mode(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    assert "unknown text mode 'paragraphs'" in error_for(tmp_path / "notes.txt", text_mode="paragraphs")
