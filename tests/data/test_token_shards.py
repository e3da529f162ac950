"""Token shards: encoded splits equal in-memory encoding, cache entries are all-or-nothing, and the file-backed
dataset yields the in-memory dataset's batches."""

from __future__ import annotations

import numpy as np
import pytest

from data import corpus_stream
from data.config import DataConfig
from data.pipelines import (
    IN_ORDER,
    EpochOrder,
    causal_lm_dataset,
    causal_lm_file_dataset,
    encode_documents_for_lm,
)
from data.token_shards import META_FILE, TokenFile, load_shards, token_dtype, write_shards
from data.tokenizers import CharTokenizer
from data.tokenizers.wordpiece import WordPieceTokenizer

TEXT = "".join(
    f"Sentence {i}: the quick brown fox {'jumps' if i % 3 else 'naps'} over it.\n" for i in range(600)
)


def _shards(tmp_path, tokenizer, monkeypatch=None):
    path = tmp_path / "c.txt"
    path.write_text(TEXT, encoding="utf-8")
    corpus = corpus_stream.open_corpus(DataConfig(path=str(path)))
    offsets = corpus_stream.split_offsets(corpus, 0.1, 0.1)
    readers = {
        n: (lambda lo=lo, hi=hi: corpus_stream.read_text(corpus, lo, hi)) for n, (lo, hi) in offsets.items()
    }
    sizes = {n: hi - lo for n, (lo, hi) in offsets.items()}
    seen = []
    shards = write_shards(tmp_path / "entry", tokenizer, readers, sizes, progress=lambda *a: seen.append(a))
    return shards, offsets, seen


@pytest.mark.parametrize("kind", ["char", "wordpiece"])
def test_each_split_equals_encoding_its_text_whole(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(corpus_stream, "CHUNK_BYTES", 1000)  # many chunks and pieces
    tokenizer = CharTokenizer.train([TEXT]) if kind == "char" else WordPieceTokenizer.train([TEXT], 300)
    shards, offsets, seen = _shards(tmp_path, tokenizer)
    raw = TEXT.encode("utf-8")
    for name, (lo, hi) in offsets.items():
        expected = encode_documents_for_lm(tokenizer, [raw[lo:hi].decode("utf-8")])
        got = shards.files[name].read(0, shards.files[name].length)
        np.testing.assert_array_equal(got, expected)
    assert shards.meta["dtype"] == "uint16" and shards.tokenizer.vocabulary == tokenizer.vocabulary
    assert seen[-1][0] == seen[-1][1] == len(raw)  # progress reached the whole corpus
    assert load_shards(shards.directory).meta == shards.meta


def test_an_unfinished_or_damaged_entry_is_not_read(tmp_path):
    shards, _, _ = _shards(tmp_path, CharTokenizer.train([TEXT]))
    with open(shards.files["train"].path, "ab") as handle:
        handle.write(b"\x00\x00")
    assert load_shards(shards.directory) is None
    (shards.directory / META_FILE).unlink()
    assert load_shards(shards.directory) is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".entry")]  # no temporary folder left


def test_a_failed_encoding_leaves_no_entry(tmp_path):
    def broken():
        yield "some text"
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_shards(tmp_path / "entry", CharTokenizer.train([TEXT]), {"train": broken}, {"train": 10})
    assert list(tmp_path.iterdir()) == []


def test_token_files_use_the_smallest_dtype():
    assert token_dtype(65536) == "uint16" and token_dtype(65537) == "int32"


@pytest.mark.parametrize("order", [EpochOrder(seed=3, epoch=2), IN_ORDER])
def test_the_file_dataset_yields_the_in_memory_batches(tmp_path, order):
    stream = np.random.default_rng(0).integers(0, 70_000, size=5_000).astype(np.int32)
    path = tmp_path / "t.bin"
    path.write_bytes(stream.astype("int32").tobytes())
    tokens = TokenFile(path, len(stream), "int32")
    drop = order.shuffle
    expected = list(causal_lm_dataset(stream, 16, 8, order, drop_remainder=drop).as_numpy_iterator())
    got = list(causal_lm_file_dataset(tokens, 16, 8, order, drop_remainder=drop).as_numpy_iterator())
    assert len(got) == len(expected) > 10
    for (x, y), (ex, ey) in zip(got, expected, strict=True):
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)


@pytest.mark.parametrize("from_file", [False, True])
def test_a_held_out_set_can_be_capped_to_evenly_spaced_windows(tmp_path, from_file):
    stream = np.arange(2_000, dtype=np.int32)
    path = tmp_path / "t.bin"
    path.write_bytes(stream.astype("uint16").tobytes())
    tokens = TokenFile(path, len(stream), "uint16")
    make = causal_lm_file_dataset if from_file else causal_lm_dataset
    batches = list(
        make(tokens if from_file else stream, 10, 4, IN_ORDER, drop_remainder=False, max_windows=9)
    )
    firsts = np.concatenate([x[:, 0] for x, _ in batches])
    assert len(firsts) == 9 and firsts[0] == 0 and firsts[-1] == 1980 and np.all(np.diff(firsts) > 200)


@pytest.mark.parametrize("from_file", [False, True])
def test_process_shards_split_every_batch_between_them(tmp_path, from_file):
    stream = np.random.default_rng(1).integers(0, 500, size=3_000).astype(np.int32)
    path = tmp_path / "t.bin"
    path.write_bytes(stream.astype("uint16").tobytes())
    tokens = TokenFile(path, len(stream), "uint16")
    order = EpochOrder(seed=5, epoch=1)

    def batches(shard):
        if from_file:
            return list(causal_lm_file_dataset(tokens, 16, 8, order, shard=shard).as_numpy_iterator())
        return list(causal_lm_dataset(stream, 16, 8, order, shard=shard).as_numpy_iterator())

    whole, first, second = batches((0, 1)), batches((0, 2)), batches((1, 2))
    assert len(whole) == len(first) == len(second) > 5
    for (x, y), (x0, y0), (x1, y1) in zip(whole, first, second, strict=True):
        assert x0.shape == (4, 16)
        np.testing.assert_array_equal(np.concatenate([x0, x1]), x)
        np.testing.assert_array_equal(np.concatenate([y0, y1]), y)
