"""The standard-library WordPiece encoder gives exactly the ids of keras-hub's tf-text tokenizer."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from data.tokenizers import wordpiece_py
from data.tokenizers.wordpiece_py import WordPieceEncoder

ROOT = Path(__file__).resolve().parents[2]
TRICKY = [
    "Café déjà vu, naïve RÉSUMÉ!",
    "ﬁne Straße İstanbul ǅ ᾈ",
    "東京は晴れ 한국어 ไทย",
    "a\u00a0b c\u200bd e\u3164f g\u2028h\u00adi",
    "x" * 100,
    "y" * 101,
    "é" * 50 + " " + "é" * 51,
    "emoji 😀👍🏽 ok",
    "tab\there\x0bvt\x1cfs\r\nnext",
    "Ⅻ ½ ㎏ ＡＢＣ！",
    "«quote» — dash… ‘single’ “double”",
    "[MASK] [UNK] ## #hash @user http://x.co/a?b=c",
    "",
    "   ",
    "\u0301abc",
    "I'm SHOUTING!!! 100% £50 $5.99 3:30pm",
]


def test_module_uses_only_the_standard_library():
    tree = ast.parse((ROOT / "data" / "tokenizers" / "wordpiece_py.py").read_text())
    modules = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    allowed = set(sys.stdlib_module_names) | {"__future__", "data.special_tokens"}
    assert modules <= allowed, modules - allowed
    special = ast.parse((ROOT / "data" / "special_tokens.py").read_text())
    assert all(
        not isinstance(n, ast.Import | ast.ImportFrom) or n.module == "__future__" for n in ast.walk(special)
    )


def test_python_and_keras_hub_agree_on_real_text(wordpiece, sms_texts, tmp_path):
    wordpiece.save(tmp_path)
    reference = WordPieceEncoder.from_dir(tmp_path)  # reads only vocab.txt + tokenizer.json
    shakespeare = (ROOT / "assets" / "demo" / "shakespeare_1mb.txt").read_text(encoding="utf-8")
    texts = sms_texts + shakespeare[:200_000].split("\n") + TRICKY
    expected = wordpiece.encode_batch(texts)
    got = [reference.encode(t) for t in texts]
    mismatches = [(t, e, g) for t, e, g in zip(texts, expected, got, strict=True) if e != g]
    assert not mismatches, mismatches[:3]
    assert sum(map(len, got)) > 50_000  # it really encoded a lot of text
    assert any(
        wordpiece_py.UNK_TOKEN == reference.vocabulary[i] for row in got for i in row
    )  # UNKs exercised


def test_pretokenize_rules():
    assert wordpiece_py.pretokenize("Héllo, WORLD!", lowercase=True) == ["hello", ",", "world", "!"]
    assert wordpiece_py.pretokenize("Héllo, WORLD!", lowercase=False) == ["Héllo", ",", "WORLD", "!"]
    assert wordpiece_py.pretokenize("東京x", lowercase=False) == ["東", "京", "x"]


def test_greedy_longest_match_first():
    vocab = [
        "[PAD]",
        "[UNK]",
        "[BOS]",
        "[EOS]",
        "[MASK]",
        "un",
        "unbe",
        "##lie",
        "##liev",
        "##able",
        "##vable",
        "x",
    ]
    encoder = WordPieceEncoder(vocab, lowercase=True)
    assert encoder.tokenize("Unbelievable") == ["unbe", "##liev", "##able"]
    assert encoder.tokenize("unx") == ["[UNK]"]  # "##x" is missing, so the whole word is unknown
    assert encoder.decode(encoder.encode("unbelievable x")) == "unbelievable x"


def test_without_tensorflow_text_wordpiece_trains_and_encodes_the_same(monkeypatch, sms_texts):
    """Where tensorflow-text has no wheel (macOS arm64, Windows) the pure-Python twin does both jobs."""
    from data.tokenizers import wordpiece as wp

    texts = sms_texts[:300] + ["Naïve CAFÉ, 東京!", "tab\tand\u200bzero-width"]
    tf_counts, tf_tokenizer = wp.count_words(texts), wp.WordPieceTokenizer.train(texts, 400)
    tf_ids = tf_tokenizer.encode_batch(texts)
    monkeypatch.setattr(wp, "tf_text_available", lambda: False)
    counts, tokenizer = wp.count_words(texts), wp.WordPieceTokenizer.train(texts, 400)
    assert counts == tf_counts and tokenizer.vocabulary == tf_tokenizer.vocabulary
    assert tokenizer.encode_batch(texts) == tf_ids
