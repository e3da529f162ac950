"""Char and WordPiece tokenizers: fixed specials, encode/decode, save/load round trips, bad folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data import tokenizers as tk
from data.errors import DataError
from data.tokenizers import CharTokenizer, WordPieceTokenizer, load_tokenizer, train_tokenizer
from models.config import TokenizerConfig

SAMPLE = ["Hello world!\n", "Tab\there, naïve café 東京 😀", "  spaces  "]


def test_special_ids_are_fixed():
    assert (tk.PAD, tk.UNK, tk.BOS, tk.EOS, tk.MASK, tk.CLS, tk.SEP) == (0, 1, 2, 3, 4, 2, 3)
    assert tk.SPECIAL_TOKENS == ("[PAD]", "[UNK]", "[BOS]", "[EOS]", "[MASK]")


def test_char_vocabulary_sorted_with_min_frequency():
    tok = train_tokenizer(TokenizerConfig(kind="char", min_frequency=2), ["abca", "cb d"])
    assert tok.kind == "char" and tok.vocabulary == [*tk.SPECIAL_TOKENS, "a", "b", "c"]
    assert tok.vocab_size == 8
    assert tok.encode("abdz") == [5, 6, tk.UNK, tk.UNK]
    assert tok.decode([tk.BOS, 5, 6, tk.UNK, tk.EOS, tk.PAD, tk.MASK]) == "ab\ufffd"


def test_char_round_trip_and_save_load(tmp_path):
    tok = train_tokenizer(TokenizerConfig(kind="char"), SAMPLE)
    ids = tok.encode_batch(SAMPLE)
    assert [tok.decode(i) for i in ids] == SAMPLE
    assert tok.encode(SAMPLE[1]) == ids[1]
    tok.save(tmp_path / "tok")
    lines = (tmp_path / "tok" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert lines[:5] == list(tk.SPECIAL_TOKENS) and len(lines) == tok.vocab_size + 1  # one token per line
    assert "\\u000a" in lines and "\\u0020" in lines and "\\u0009" in lines  # whitespace escaped
    config = json.loads((tmp_path / "tok" / "tokenizer.json").read_text())
    assert config["kind"] == "char" and config["vocab_size"] == tok.vocab_size
    loaded = load_tokenizer(tmp_path / "tok")
    assert isinstance(loaded, CharTokenizer) and loaded.vocabulary == tok.vocabulary
    assert loaded.encode_batch(SAMPLE) == ids


def test_wordpiece_vocabulary_and_round_trip(wordpiece, sms_texts, tmp_path):
    assert isinstance(wordpiece, WordPieceTokenizer) and wordpiece.kind == "wordpiece"
    assert wordpiece.vocabulary[:5] == list(tk.SPECIAL_TOKENS) and 200 < wordpiece.vocab_size <= 400
    assert any(t.startswith("##") for t in wordpiece.vocabulary)
    ids = wordpiece.encode_batch(sms_texts[:50])
    assert wordpiece.encode(sms_texts[3]) == ids[3]
    assert all(isinstance(i, int) for row in ids for i in row)
    wordpiece.save(tmp_path / "wp")
    loaded = load_tokenizer(tmp_path / "wp")
    assert isinstance(loaded, WordPieceTokenizer) and loaded.lowercase
    assert loaded.vocabulary == wordpiece.vocabulary and loaded.encode_batch(sms_texts[:50]) == ids


def test_wordpiece_decode_reproduces_normalized_text(wordpiece):
    words = [t for t in wordpiece.vocabulary[5:] if t.isalpha() and len(t) > 2][:6]
    text = " ".join(w.upper() for w in words)
    ids = wordpiece.encode(text)
    assert wordpiece.decode(ids) == " ".join(words)
    assert wordpiece.decode([tk.BOS, *ids, tk.EOS, tk.PAD]) == " ".join(words)
    # A word split into pieces is glued back together.
    split = [i for i in wordpiece.encode("unbelievablenesses") if i != tk.UNK]
    assert len(split) > 1 and wordpiece.decode(split) == "unbelievablenesses"
    assert wordpiece.decode(wordpiece.encode("Café, OK?")) == "cafe , ok ?"


def test_wordpiece_encode_batch_handles_empty_and_many(wordpiece):
    assert wordpiece.encode("") == [] and wordpiece.encode_batch([]) == []
    many = ["free entry now"] * 9000  # more than one internal chunk
    ids = wordpiece.encode_batch(many)
    assert len(ids) == 9000 and ids[0] == ids[-1] == wordpiece.encode("free entry now")


def test_decode_accepts_numpy(wordpiece):
    ids = wordpiece.encode("call now")
    assert wordpiece.decode(np.asarray(ids, dtype=np.int32)) == "call now"


def test_unknown_kind():
    with pytest.raises(DataError, match="unknown tokenizer kind 'bpe'"):
        train_tokenizer(TokenizerConfig(kind="bpe"), ["x"])  # type: ignore[arg-type]


def test_char_training_needs_text():
    with pytest.raises(DataError, match="no character occurs"):
        train_tokenizer(TokenizerConfig(kind="char"), [])


def test_load_missing_folder(tmp_path):
    with pytest.raises(DataError) as info:
        load_tokenizer(tmp_path / "none")
    assert "vocab.txt" in str(info.value) and "is missing" in str(info.value)


def test_load_corrupt_vocabulary(tmp_path):
    tok = train_tokenizer(TokenizerConfig(kind="char"), ["abc"])
    tok.save(tmp_path)
    (tmp_path / "vocab.txt").write_text("a\nb\n")
    with pytest.raises(DataError) as info:
        load_tokenizer(tmp_path)
    assert "vocab.txt" in str(info.value) and "[PAD]" in str(info.value)
    (tmp_path / "tokenizer.json").write_text('{"kind": "sentencepiece"}')
    with pytest.raises(DataError, match="unknown tokenizer kind 'sentencepiece'"):
        load_tokenizer(tmp_path)
