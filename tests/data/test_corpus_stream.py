"""Streamed corpora: byte splits at line breaks, chunked reading that joins back to the text, documents, sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from data import corpus_stream
from data.config import DataConfig
from data.errors import DataError


def _corpus(path: Path, text: str | bytes, mode: str = "corpus") -> corpus_stream.Corpus:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return corpus_stream.open_corpus(DataConfig(path=str(path), text_mode=mode))


def _joined(corpus: corpus_stream.Corpus, start: int, end: int) -> str:
    return "".join("\x1e" if t is None else t for t in corpus_stream.read_text(corpus, start, end))


LINES = [f"line {i} of the corpus, with words and 字符 {i * 7}\n" for i in range(400)]


def test_splits_cover_the_corpus_in_order_and_end_after_line_breaks(tmp_path):
    corpus = _corpus(tmp_path / "c.txt", "".join(LINES))
    data = (tmp_path / "c.txt").read_bytes()
    offsets = corpus_stream.split_offsets(corpus, 0.1, 0.05)
    (a, b), (c, d), (e, f) = offsets["train"], offsets["val"], offsets["test"]
    assert a == 0 and b == c and d == e and f == len(data) and b < d < f
    assert data[b - 1 : b] == b"\n" and data[d - 1 : d] == b"\n"
    assert abs(b - 0.85 * len(data)) < 200 and abs(d - 0.95 * len(data)) < 200
    no_test = corpus_stream.split_offsets(corpus, 0.1, 0.0)
    assert no_test["val"][1] == len(data) and no_test["test"] == (len(data), len(data))


@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_reading_in_chunks_joins_back_to_the_text(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(corpus_stream, "CHUNK_BYTES", chunk)
    text = "".join(LINES) + "中文没有空格的长句子" * 20  # a span without whitespace: cut between characters
    corpus = _corpus(tmp_path / "c.txt", text)
    offsets = corpus_stream.split_offsets(corpus, 0.2, 0.1)
    parts = [_joined(corpus, *offsets[name]) for name in corpus_stream.SPLITS]
    assert "".join(parts) == text and "\x1e" not in "".join(parts)
    assert all(parts)


def test_bom_crlf_and_nul_bytes_are_cleaned(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_stream, "CHUNK_BYTES", 5)
    corpus = _corpus(tmp_path / "c.txt", b"\xef\xbb\xbfone two\r\nthree\x00 four\r\n")
    assert _joined(corpus, 0, corpus.total_bytes) == "one two\nthree four\n"


def test_a_folder_is_one_document_per_file_and_lines_mode_one_per_line(tmp_path):
    folder = tmp_path / "books"
    (folder / "b").mkdir(parents=True)
    (folder / "a.txt").write_text("first book\n", encoding="utf-8")
    (folder / "b" / "c.txt").write_text("second book\n", encoding="utf-8")
    (folder / "notes.md").write_text("not a corpus file\n", encoding="utf-8")
    corpus = corpus_stream.open_corpus(DataConfig(path=str(folder)))
    assert [f.name for f in corpus.files] == ["a.txt", "c.txt"]
    assert _joined(corpus, 0, corpus.total_bytes) == "first book\n\x1esecond book\n"
    lines = _corpus(tmp_path / "l.txt", "one\n\ntwo\nthree\n", mode="lines")
    assert _joined(lines, 0, lines.total_bytes) == "one\x1etwo\x1ethree\x1e"


def test_the_tokenizer_sample_is_bounded_and_spread_over_the_range(tmp_path):
    corpus = _corpus(tmp_path / "c.txt", "".join(LINES) * 20)
    whole = corpus_stream.sample(corpus, 0, corpus.total_bytes, budget=corpus.total_bytes)
    assert "".join(whole).encode("utf-8") == (tmp_path / "c.txt").read_bytes()
    budget = corpus.total_bytes // 10
    texts = corpus_stream.sample(corpus, 0, corpus.total_bytes, budget=budget)
    assert sum(len(t.encode("utf-8")) for t in texts) <= budget + corpus_stream.SAMPLE_CHUNKS * 8
    assert "line 0 " in texts[0] and "line 399 " in "".join(texts[-3:])


def test_what_streams_and_what_stays_in_memory(tmp_path, monkeypatch):
    small = _corpus(tmp_path / "c.txt", "".join(LINES))
    table = tmp_path / "t.csv"
    table.write_text("text\nhello\n", encoding="utf-8")
    assert not corpus_stream.streams(DataConfig(path=str(small.files[0])))  # under the 50 MB default
    monkeypatch.setenv(corpus_stream.STREAM_MB_ENV, "0.001")
    assert corpus_stream.streams(DataConfig(path=str(small.files[0])))
    assert not corpus_stream.streams(DataConfig(path=str(table)))
    assert corpus_stream.streams(DataConfig(path=str(tmp_path)))  # a folder always streams
    monkeypatch.setenv(corpus_stream.STREAM_MB_ENV, "lots")
    with pytest.raises(DataError, match="TEXTLAB_STREAM_MB"):
        corpus_stream.stream_threshold()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no .txt files"):
        corpus_stream.open_corpus(DataConfig(path=str(tmp_path / "empty")))
    with pytest.raises(DataError, match="was not found"):
        corpus_stream.open_corpus(DataConfig(path=str(tmp_path / "missing")))
