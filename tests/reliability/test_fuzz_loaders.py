"""Property-based fuzzing of the loaders: any file either loads (and can be described) or raises DataError."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.errors import DataError
from data.loaders import FORMATS, load_dataset
from data.stats import describe

SUFFIXES = sorted(FORMATS)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that make parsers work: separators, quotes, every line ending, NUL/control bytes, BOM, emoji.
TRICKY = st.sampled_from(
    [",", "\t", '"', "'", "\n", "\r", "\r\n", "\x00", "\x0b", "\ufeff", "\u2028", "😀", " ", "\\"]
)
CELL = st.one_of(
    st.text(max_size=12), TRICKY, st.sampled_from(["", "NaN", "null", "1", "0.5", "-", "text", "label"])
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
RECORD = st.dictionaries(st.sampled_from(["text", "label", "body", "id", "x", ""]), JSON_VALUE, max_size=4)


@st.composite
def csv_like(draw: st.DrawFn) -> str:
    width = draw(st.integers(1, 4))
    rows = draw(st.lists(st.lists(CELL, min_size=1, max_size=width + 1), max_size=12))
    sep = draw(st.sampled_from([",", "\t", ";"]))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    header = draw(st.sampled_from(["text,label", "text", "label,text", "a,b,c", "", '"text","label"']))
    return header + end + end.join(sep.join(row) for row in rows)


@st.composite
def jsonl_like(draw: st.DrawFn) -> str:
    lines = []
    for record in draw(st.lists(st.one_of(RECORD, JSON_VALUE), max_size=10)):
        line = json.dumps(record)
        if draw(st.integers(0, 9)) == 0:  # now and then a torn or garbled line
            line = line[: draw(st.integers(0, len(line)))] + draw(st.sampled_from(["", "}", "{", ",", "\r"]))
        lines.append(line)
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)


def _check_loads_or_raises_data_error(payload: bytes, suffix: str, need_labels: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="textlab-fuzz-") as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(payload)
        for mode in ("lines", "corpus") if suffix == ".txt" else ("corpus",):
            try:
                loaded = load_dataset(path, need_labels=need_labels and suffix != ".txt", text_mode=mode)
            except DataError as err:
                assert str(err) and "Traceback" not in str(err)
                continue
            # What loads must be usable: the CLI and the UI describe it next.
            assert len(loaded.frame) > 0 and loaded.frame["text"].map(type).eq(str).all()
            describe(loaded)


@FUZZ
@given(payload=st.binary(max_size=600), suffix=st.sampled_from(SUFFIXES), need_labels=st.booleans())
def test_random_bytes(payload: bytes, suffix: str, need_labels: bool) -> None:
    _check_loads_or_raises_data_error(payload, suffix, need_labels)


@FUZZ
@given(
    text=csv_like(),
    suffix=st.sampled_from([".csv", ".tsv", ".txt"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]),
    need_labels=st.booleans(),
)
def test_random_csv_like_text(text: str, suffix: str, encoding: str, need_labels: bool) -> None:
    _check_loads_or_raises_data_error(text.encode(encoding, errors="replace"), suffix, need_labels)


@FUZZ
@given(text=jsonl_like(), suffix=st.sampled_from([".jsonl", ".ndjson", ".json"]), need_labels=st.booleans())
def test_random_jsonl(text: str, suffix: str, need_labels: bool) -> None:
    _check_loads_or_raises_data_error(text.encode("utf-8", errors="surrogatepass"), suffix, need_labels)


@FUZZ
@given(records=st.lists(RECORD, max_size=6), need_labels=st.booleans())
def test_random_json_records(records: list, need_labels: bool) -> None:
    _check_loads_or_raises_data_error(json.dumps(records).encode(), ".json", need_labels)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_known_nasty_payloads(suffix: str) -> None:
    """Shrunk examples worth keeping as plain regression cases."""
    for payload in (
        b"\xff\xfe",
        b"\xef\xbb\xbf",
        b"\r",
        b'"',
        b"\x00",
        b"PAR1",
        b"[]",
        b"{}",
        b"\xfe\xff\x00",
    ):
        _check_loads_or_raises_data_error(payload, suffix, need_labels=True)
        _check_loads_or_raises_data_error(payload, suffix, need_labels=False)
