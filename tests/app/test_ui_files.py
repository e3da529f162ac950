"""Uploads land in <workspace>/uploads under a safe name; bundled demos are found."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.ui import files


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("spam.csv", "spam.csv"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.CSV", "evil.csv"),
        ("/abs/path/data.tsv", "data.tsv"),
        (".bashrc", "upload.bashrc"),
        ("my data (final).csv", "my_data_final.csv"),
        (".hidden.csv", "hidden.csv"),
        ("....csv", "upload.csv"),
        ("résumé.txt", "résumé.txt"),  # letters of any script stay: the user recognises the file
        ("情感评论.csv", "情感评论.csv"),
        ("ｄａｔａ　２.CSV", "data_2.csv"),  # full-width forms normalised (NFKC)
        ("日" * 80 + ".csv", "日" * 33 + ".csv"),  # the stem is cut at 100 UTF-8 bytes, whole characters
        ("", "upload"),
        ("a..b.csv", "a_b.csv"),
    ],
)
def test_sanitize_filename(name: str, expected: str) -> None:
    assert files.sanitize_filename(name) == expected


def test_save_upload_copies_into_workspace_uploads(tmp_path: Path) -> None:
    source = tmp_path / "in" / "x.csv"
    source.parent.mkdir()
    source.write_text("text,label\na,b\n", encoding="utf-8")
    workspace = tmp_path / "ws"
    saved = files.save_upload(source, workspace, original_name="../../escape.csv")
    assert saved == (workspace / "uploads" / "escape.csv").resolve()
    assert saved.read_text(encoding="utf-8") == source.read_text(encoding="utf-8")
    assert files.save_upload(source, workspace, original_name="escape.csv") == saved  # same bytes: reused
    other = tmp_path / "in" / "y.csv"
    other.write_text("text,label\nc,d\n", encoding="utf-8")
    second = files.save_upload(other, workspace, original_name="escape.csv")
    assert second.name == "escape-1.csv" and second.read_text(encoding="utf-8").endswith("c,d\n")
    assert sorted(p.name for p in (workspace / "uploads").iterdir()) == ["escape-1.csv", "escape.csv"]


def test_demo_datasets_lists_bundled_files_csv_first() -> None:
    demos = files.demo_datasets()
    if not demos:
        pytest.skip("assets/demo holds no dataset yet")
    names = list(demos)
    assert all(Path(p).is_file() for p in demos.values())
    csv = [n for n in names if n.endswith(".csv")]
    assert names[: len(csv)] == csv
