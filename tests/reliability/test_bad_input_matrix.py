"""One table of bad (and merely awkward) input files, each run through the CLI and the Data tab's upload.

The data-layer messages of most error cases are pinned in tests/data/test_data_loader_errors.py; this table
checks what a user of the CLI (`data FILE`, `train --data FILE`: exit 2, the message on stderr, no traceback)
and of the UI upload (the very function the upload callback calls) sees for each of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.cli import main
from app.ui import data_tab
from data.errors import DataError
from data.loaders import MAX_FILE_MB_ENV, load_dataset
from tests.reliability.helpers import ROOT, child_env

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
ROWS = "text,label\nthe film was lovely,pos\nthe plot was boring,neg\nwhat a superb cast,pos\n"


def _write(name: str, payload: bytes | str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(payload.encode("utf-8") if isinstance(payload, str) else payload)
        return path

    return make


def _parquet(name: str, columns: dict) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        pq.write_table(pa.table(columns), folder / name)
        return folder / name

    return make


def _sparse(name: str, size: int) -> Callable[[Path], Path]:
    """A file of ``size`` bytes made in no time: a hole, no data blocks written."""

    def make(folder: Path) -> Path:
        with open(folder / name, "wb") as handle:
            handle.truncate(size)
        return folder / name

    return make


@dataclass(frozen=True)
class Case:
    """``error``: message fragments when the file is refused; None: it loads and ``shown`` is in the output
    (CLI: "N rows · K classes" and its warnings; UI: the source line and stats), ``ui_only`` in the UI's.
    ``train_error``: what `train --data` (a classifier) says when that differs (labels matter only there)."""

    id: str
    make: Callable[[Path], Path]
    error: tuple[str, ...] | None
    shown: tuple[str, ...] = ()
    train_error: tuple[str, ...] | None = None
    cli_args: tuple[str, ...] = ()
    ui_only: tuple[str, ...] = ()

    @property
    def train_fragments(self) -> tuple[str, ...] | None:
        return self.train_error or self.error


GOOD_JSONL = json.dumps({"text": "the film was lovely", "label": "pos"})
OTHER_JSONL = json.dumps({"text": "the plot was boring", "label": "neg"})
CASES = [
    Case("empty", _write("empty.csv", b""), ("empty.csv", "is empty (0 bytes)")),
    Case("header-only", _write("header.csv", "text,label\n"), ("header.csv", "no data rows")),
    Case("binary-renamed-csv", _write("photo.csv", PNG), ("photo.csv", "not a text file", "PNG image")),
    Case(
        "latin-1",
        _write("latin1.csv", "text,label\ncafé crème,a\nnaïve idea,b\nsoupçon,a\n".encode("latin-1")),
        None,
        shown=("3 rows", "not valid UTF-8", "Windows-1252"),
    ),
    Case(
        "utf-16-bom", _write("utf16.csv", "text,label\ncafé,a\nnaïve,b\n".encode("utf-16")), None, ("2 rows",)
    ),
    Case(
        "utf-16-no-bom",
        _write("utf16le.csv", "text,label\ncafé,a\nnaïve,b\n".encode("utf-16-le")),
        ("utf16le.csv", "not a text file", "UTF-16", "re-save it as UTF-8"),
    ),
    Case(
        "mixed-line-endings-csv",
        _write(
            "mixed.csv",
            b"text,label\r\nthe film was lovely,pos\nthe plot was boring,neg\rwhat a cast,pos\r\n",
        ),
        None,
        shown=("3 rows",),
    ),
    Case(
        "mixed-line-endings-jsonl",
        _write("mixed.jsonl", f"{GOOD_JSONL}\r\n{OTHER_JSONL}\r{GOOD_JSONL}\n".encode()),
        None,
        shown=("3 rows",),
    ),
    Case(
        "200-MB",
        _sparse("huge.csv", 200_000_000),
        ("huge.csv", "200.0 MB", "over the 100 MB limit", f"{MAX_FILE_MB_ENV}=200"),
    ),
    Case(
        "one-class",
        _write("one.csv", "text,label\nwin a prize now,spam\nfree cash today,spam\ncall now,spam\n"),
        None,
        shown=("3 rows",),
        ui_only=("only one class ('spam')",),  # the UI offers it for language models and says why
        train_error=("one.csv", "column 'label'", "only one class ('spam')"),
    ),
    Case(
        "blank-labels",
        _write("holes.csv", "text,label\nthe film was lovely,pos\nno label here,\nthe plot was boring,neg\n"),
        None,
        shown=("3 rows",),
        ui_only=("1 row(s) have no label: rows 3",),
        train_error=("holes.csv", "column 'label'", "1 row(s) have no label: rows 3", "header is row 1"),
    ),
    Case(
        "nan-labels-parquet",
        _parquet(
            "nan.parquet", {"text": ["good film", "bad film", "fine film"], "label": [1.0, float("nan"), 0.0]}
        ),
        None,
        shown=("3 rows",),
        ui_only=("1 row(s) have no label: rows 2",),
        train_error=("nan.parquet", "column 'label'", "1 row(s) have no label: rows 2", "record numbers"),
    ),
    Case(
        "nan-labels-as-text",
        _write("nantext.csv", ROWS + "an odd one,NaN\n"),
        None,
        shown=("4 rows", "labelled like a missing value (NaN): rows 5"),
        cli_args=("--label-column", "label"),
    ),
    Case(
        "numeric-labels",
        _write("num.csv", "text,label\ngood,1\nbad,0\nfine,1\nawful,0\n"),
        None,
        shown=("4 rows · 2 classes",),
        cli_args=("--label-column", "label"),
    ),
    Case(
        "text-all-empty",
        _write("hollow.csv", "text,label\n,a\n  ,b\n"),
        ("hollow.csv", "column 'text'", "empty in every row", "--text-column"),
    ),
    Case(
        "jsonl-broken-line",
        _write(
            "broken.jsonl", f'{GOOD_JSONL}\n{GOOD_JSONL}\n\n{{"text": "oops", "label": }}\n{GOOD_JSONL}\n'
        ),
        ("broken.jsonl", "row 4", "line 4 is not valid JSON", "Fix or delete that line"),
    ),
    Case(
        "quoted-embedded-newlines",
        _write("quoted.csv", 'text,label\n"line one\nline two, with a comma",a\n"say ""hi""\r\nthen go",b\n'),
        None,
        shown=("2 rows",),
    ),
    Case(
        "parquet-nested-text",
        _parquet("nested.parquet", {"text": [["a", "b"], ["c"]], "label": ["x", "y"]}),
        ("nested.parquet", "column 'text'", "nested values (list<"),
    ),
    Case(
        "parquet-nested-other-columns",
        _parquet(
            "extra.parquet",
            {
                "text": ["good film", "bad film"],
                "meta": [{"n": 1}, {"n": 2}],
                "tags": [[1], [2, 3]],
                "label": ["p", "q"],
            },
        ),
        None,
        shown=("2 rows · 2 classes",),
        cli_args=("--label-column", "label"),
    ),
]
IDS = [case.id for case in CASES]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    return tmp_path / "in"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli_data(case: Case, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = case.make(folder)
    code = main(["data", str(path), *case.cli_args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if case.error:
        assert code == 2 and err.startswith("error: ") and out == ""
        _contains(err, case.error)
        assert "What to do:" in err
    else:
        assert code == 0, err
        report = json.loads(out)
        _contains(f"{report['rows']} rows · {report['num_classes']} classes\n{err}", case.shown)


@pytest.mark.parametrize("case", [c for c in CASES if c.train_fragments], ids=lambda c: c.id)
def test_cli_train(case: Case, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import keras

    path = case.make(folder)
    workspace = tmp_path / "ws"
    argv = ["--workspace", str(workspace), "train", "--data", str(path), "--quiet"]
    code = main([*argv, "--backend", keras.backend.backend(), "--max-steps", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    _contains(err, case.train_fragments)
    # The run that could not start says why in its status (the Runs tab shows it), and holds no model.
    (run,) = (workspace / "runs").iterdir()
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed" and case.train_fragments[-1] in status["message"]
    assert not (run / "checkpoints").exists()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_ui_upload(case: Case, folder: Path, tmp_path: Path) -> None:
    path = case.make(folder)
    workspace = tmp_path / "ws"
    outputs = data_tab.load_upload(str(path), str(workspace))
    state, source, error, stats = outputs[0], outputs[1], outputs[5], outputs[7]
    assert path.name in source
    if case.error:
        assert state is None and error["visible"] is True
        _contains(error["value"], case.error)
        assert "What to do:" in error["value"] and "Traceback" not in error["value"]
    else:
        assert state is not None and error["visible"] is False
        _contains(f"{source}\n{stats}", case.shown + case.ui_only)


def test_ui_refuses_a_huge_upload_before_copying_it(tmp_path: Path) -> None:
    huge = _sparse("huge.csv", 200_000_000)(tmp_path)
    outputs = data_tab.load_upload(str(huge), str(tmp_path / "ws"))
    assert "over the 100 MB limit" in outputs[5]["value"]
    assert not (tmp_path / "ws" / "uploads").exists() or not any((tmp_path / "ws" / "uploads").iterdir())


def test_file_size_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "small.csv"
    body = ROWS.split("\n", 1)[1]
    path.write_text("text,label\n" + body * 20, encoding="utf-8")  # about 1.5 KB
    monkeypatch.setenv(MAX_FILE_MB_ENV, "0.001")
    with pytest.raises(DataError, match=r"over the 0\.001 MB limit") as caught:
        load_dataset(path)
    assert f"{MAX_FILE_MB_ENV}=100" in str(caught.value)  # the smallest round limit that fits
    monkeypatch.setenv(MAX_FILE_MB_ENV, "0.01")
    assert len(load_dataset(path).frame) == 60
    monkeypatch.setenv(MAX_FILE_MB_ENV, "lots")
    with pytest.raises(DataError, match=f"{MAX_FILE_MB_ENV}='lots' is not a size in megabytes"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("case_id", "expected"),
    [
        ("latin-1", ["café crème", "naïve idea", "soupçon"]),
        ("utf-16-bom", ["café", "naïve"]),
        ("mixed-line-endings-csv", ["the film was lovely", "the plot was boring", "what a cast"]),
        ("mixed-line-endings-jsonl", ["the film was lovely", "the plot was boring", "the film was lovely"]),
        ("quoted-embedded-newlines", ["line one\nline two, with a comma", 'say "hi"\r\nthen go']),
    ],
)
def test_awkward_files_load_their_text_exactly(case_id: str, expected: list[str], folder: Path) -> None:
    (case,) = [c for c in CASES if c.id == case_id]
    assert load_dataset(case.make(folder), need_labels=True).frame["text"].tolist() == expected


def test_labels_numeric_and_missing_like(folder: Path) -> None:
    numeric = next(c for c in CASES if c.id == "numeric-labels").make(folder)
    assert load_dataset(numeric, need_labels=True).classes == ["0", "1"]
    floats = _parquet("f.parquet", {"text": ["a", "b", "c"], "label": [1.0, 0.0, 2.0]})(folder)
    assert load_dataset(floats, need_labels=True).classes == ["0", "1", "2"]  # not "1.0"
    literal = next(c for c in CASES if c.id == "nan-labels-as-text").make(folder)
    loaded = load_dataset(literal, need_labels=True)
    assert "NaN" in loaded.classes and any("like a missing value" in w for w in loaded.warnings)


def test_real_cli_processes_print_no_traceback(tmp_path: Path) -> None:
    """The table above calls the CLI's main() (`train` too); once, the real `python -m app data` process."""
    bad = _write("photo.csv", PNG)(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "app", "data", str(bad)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: file ") and "PNG image" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.slow
def test_a_million_rows_load_in_the_ui_and_can_be_capped(tmp_path: Path) -> None:
    """1,000,000 rows (~40 MB) load whole (under the size limit); max_rows keeps only the first rows."""
    path = tmp_path / "million.csv"
    words = ["the film", "a plot", "lovely", "boring", "superb cast", "awful end"]
    lines = (
        f"{words[i % 6]} {words[(i // 6) % 6]} number {i},{'pos' if i % 2 else 'neg'}"
        for i in range(1_000_000)
    )
    path.write_text("text,label\n" + "\n".join(lines) + "\n", encoding="utf-8")
    started = time.perf_counter()
    outputs = data_tab.load_upload(str(path), str(tmp_path / "ws"))
    seconds = time.perf_counter() - started
    assert outputs[0] is not None, outputs[5]
    assert outputs[0]["rows"] == 1_000_000 and outputs[0]["num_classes"] == 2
    print(f"\n1,000,000 rows ({path.stat().st_size / 1e6:.0f} MB) through the upload path: {seconds:.1f} s")
    capped = load_dataset(path, need_labels=True, max_rows=1000)
    assert len(capped.frame) == 1000 and capped.cut_at_max_rows == 1000
    assert any("Kept the first 1000 rows" in w for w in capped.warnings)


def _contains(text: str, fragments: tuple[str, ...]) -> None:
    missing = [f for f in fragments if f not in text]
    assert not missing, f"{missing} not in:\n{text}"


def test_ui_takes_a_large_text_corpus_as_a_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MAX_FILE_MB_ENV, "0.01")  # 10 KB: the corpus below is over the table limit
    monkeypatch.setenv("TEXTLAB_STREAM_MB", "0.01")  # ... and large enough to stream
    corpus = tmp_path / "big corpus.txt"
    corpus.write_text("".join(f"line {i} of a long corpus\n" for i in range(2_000)), encoding="utf-8")
    outputs = data_tab.load_upload(str(corpus), str(tmp_path / "ws"))
    state, source, error, preview, stats = outputs[0], outputs[1], outputs[5], outputs[6], outputs[7]
    assert error["visible"] is False and state["labelled"] is False
    assert Path(state["path"]).read_bytes() == corpus.read_bytes()  # copied whole into the workspace
    assert "streamed for language models" in source and "reads it as a stream" in stats
    assert preview["value"].iloc[0, -1] == "line 0 of a long corpus"
    table = tmp_path / "big.csv"
    table.write_text("text,label\n" + "some text,a\n" * 2_000, encoding="utf-8")
    refused = data_tab.load_upload(str(table), str(tmp_path / "ws2"))
    assert "over the 0.01 MB limit" in refused[5]["value"] and "trains as a stream" in refused[5]["value"]
