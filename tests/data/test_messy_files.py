"""Files as people export them: stray NUL bytes, spreadsheets, labels spelled two ways, ragged rows."""

from __future__ import annotations

import pandas as pd
import pytest

from data.config import DataConfig
from data.errors import DataError
from data.loaders import load_configured, load_dataset


def _mail_csv(path, rows):
    path.write_bytes(("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows)).encode())
    return path


def test_one_nul_inside_an_email_is_removed_and_its_row_named(tmp_path):
    # The real case: a 12 MB e-mail export with one NUL in one multi-line message was refused whole.
    rows = [(f"message {i}\nsecond line of message {i}", "ham") for i in range(300)]
    rows[120] = ("Dear friend,\nwire the money\x00 today", "spam")
    rows += [("cheap pills now", "spam")] * 20
    loaded = load_dataset(_mail_csv(tmp_path / "mail.csv", rows), need_labels=True)
    assert len(loaded.frame) == 320
    assert loaded.frame.loc[122, "text"] == "Dear friend,\nwire the money today"  # header is row 1
    assert not loaded.frame["text"].str.contains("\x00").any()
    (warning,) = [w for w in loaded.warnings if "control character" in w]
    assert "mail.csv" in warning and "1 stray" in warning and "rows 122 (" in warning


@pytest.mark.parametrize(
    "name, payload, where",
    [
        ("lines.txt", b"one\ntw\x00o\nthree\n", "rows 2 (line numbers"),
        ("records.jsonl", b'{"text": "a"}\n{"text": "b\x00\x01c"}\n', "rows 2 (line numbers"),
        ("tabs.tsv", b"text\tlabel\nfine\tx\nbro\x07ken\ty\n", "rows 3 (row numbers as a spreadsheet"),
    ],
)
def test_stray_controls_in_every_text_format(tmp_path, name, payload, where):
    path = tmp_path / name
    path.write_bytes(payload)
    loaded = load_dataset(path, text_mode="lines")
    assert not loaded.frame["text"].str.contains("[\x00-\x08]").any()
    assert any(where in w for w in loaded.warnings), loaded.warnings


def test_one_corpus_names_the_lines(tmp_path):
    path = tmp_path / "book.txt"
    path.write_bytes(b"Chapter 1\nIt was \x00a dark night.\nThe end.\n")
    loaded = load_dataset(path)
    assert loaded.frame["text"].iloc[0] == "Chapter 1\nIt was a dark night.\nThe end.\n"
    assert any("rows 2 (line numbers" in w for w in loaded.warnings)


def test_mostly_nul_is_still_binary(tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_bytes("text,label\n".encode("utf-16-le") * 50)
    with pytest.raises(DataError, match="NUL bytes"):
        load_dataset(path)


def _workbook(path, sheets):
    with pd.ExcelWriter(path) as writer:
        for sheet, frame in sheets.items():
            frame.to_excel(writer, sheet_name=sheet, index=False)
    return path


def test_xlsx_loads_its_first_sheet_with_spreadsheet_rows(tmp_path):
    texts = ["great film", "awful film", "fine", None] + [f"film number {i}" for i in range(8)]
    data = pd.DataFrame({"review": texts, "stars": ["pos", "neg", 1, "pos"] * 3})
    path = _workbook(tmp_path / "reviews.xlsx", {"Data": data, "Notes": pd.DataFrame({"n": ["x"]})})
    loaded = load_dataset(path, need_labels=True)
    assert loaded.text_column == "review" and loaded.label_column == "stars"
    assert loaded.frame["label"].tolist()[:3] == ["pos", "neg", "1"]  # numbers as written, like a CSV's
    assert loaded.frame.index.tolist()[:4] == [2, 3, 4, 6]  # row 5's empty text was dropped and named
    assert any("row(s) with empty text" in w and ": 5 (" in w for w in loaded.warnings), loaded.warnings
    assert any("2 sheets" in w and "'Data'" in w for w in loaded.warnings)


def test_xlsx_sheet_by_name_or_number_and_a_missing_one(tmp_path):
    sheets = {"A": pd.DataFrame({"text": ["a"]}), "B": pd.DataFrame({"text": ["b", "bb"]})}
    path = _workbook(tmp_path / "book.xlsx", sheets)
    assert load_dataset(path, sheet="B").frame["text"].tolist() == ["b", "bb"]
    assert load_dataset(path, sheet="2").frame["text"].tolist() == ["b", "bb"]
    with pytest.raises(DataError, match="has no sheet 'C'; its sheets are 'A', 'B'"):
        load_dataset(path, sheet="C")


def test_a_csv_named_xlsx_is_explained(tmp_path):
    path = tmp_path / "fake.xlsx"
    path.write_text("text,label\na,b\n")
    with pytest.raises(DataError, match="not a readable Excel workbook"):
        load_dataset(path)


def test_labels_differing_by_case_are_reported_and_merged_on_request(tmp_path):
    rows = [("a", "spam")] * 5 + [("b", "Spam")] * 2 + [("c", "ham")] * 5 + [("d", "ham ")]
    path = _mail_csv(tmp_path / "labels.csv", rows)
    loaded = load_dataset(path, need_labels=True)
    assert loaded.classes == ["Spam", "ham", "spam"]  # reported, not changed
    (case,) = [w for w in loaded.warnings if "differ only by case" in w]
    assert "'spam' (5 rows) / 'Spam' (2 rows)" in case and "rows 7, 8 (" in case
    assert any("'ham '" in w and "spaces" in w for w in loaded.warnings)  # merged: spaces are never meant
    config = DataConfig(path=str(path), merge_label_case=True)
    merged = load_configured(config, need_labels=True)
    assert merged.classes == ["ham", "spam"]
    assert any("merged labels" in w for w in merged.warnings)


def test_every_ragged_row_is_named(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('text,label\n"quoted\nnewline",a\nx,y,z\nok,b\nmore,c,d,e\n')
    with pytest.raises(DataError) as err:
        load_dataset(path)
    message = str(err.value)
    assert "row 3" in message and "2 rows have more fields than the header: 3, 5" in message


def test_cli_reads_a_chosen_sheet_and_train_flags_reach_the_config(tmp_path, capsys):
    from app.cli import build_parser, config_from_args, main
    from models.config import RunConfig

    sheets = {"A": pd.DataFrame({"text": ["a"]}), "B": pd.DataFrame({"text": ["b one", "b two", "b three"]})}
    path = _workbook(tmp_path / "book.xlsx", sheets)
    assert main(["data", str(path), "--sheet", "B"]) == 0
    assert '"rows": 3' in capsys.readouterr().out
    args = build_parser().parse_args(["train", "--data", str(path), "--sheet", "B", "--merge-label-case"])
    config = config_from_args(args)
    assert config.data.sheet == "B" and config.data.merge_label_case is True
    again = RunConfig.from_json(config.to_json())  # the settings live in the run's config.json
    assert again.data.sheet == "B" and again.data.merge_label_case is True


def test_word_counts_agree_with_str_split():
    import random

    from data.stats import word_counts

    pool = "ab日 \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\u200b"
    rng = random.Random(7)
    texts = ["".join(rng.choice(pool) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    assert word_counts(pd.Series(texts, dtype=object)).tolist() == [len(t.split()) for t in texts]
