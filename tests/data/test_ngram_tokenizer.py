"""The n-gram tokenizer: scikit-learn's analyzers written out for phones, counts as tokens, save and load."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from data.config import TokenizerConfig
from data.special_tokens import NUM_SPECIAL_TOKENS
from data.tokenizers import NgramTokenizer, load_tokenizer, train_tokenizer
from data.tokenizers.ngrams import (
    COUNT_TOKENS,
    char_ngrams,
    count_of,
    count_tokens_end,
    ngram_positions,
    subword_ngrams,
    word_ngrams,
)

TEXTS = [
    "Hello, World! I am a  test.",
    "Ünïcode straße  à la carte",
    "a",
    "",
    "x  y z",
    "今天天气很好，我们去公园",
    "don't stop 2 believing!! 42",
    "It's 9:30 - e-mail me@example.com",
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_analyzers_are_scikit_learns(text):
    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b")
    char = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    char_wb = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))
    assert word_ngrams(text) == word.build_analyzer()(text)
    assert char_ngrams(text) == char.build_analyzer()(text)
    assert subword_ngrams(text) == char_wb.build_analyzer()(text)


def test_a_lone_tab_or_newline_reads_as_a_space_so_vocab_txt_stays_one_token_a_line():
    assert char_ngrams("a\tb\nc") == char_ngrams("a b c")
    tok = NgramTokenizer.train(["甲\t乙丙\n丁"] * 3 + ["甲乙"] * 3)
    assert all("\n" not in t and "\t" not in t for t in tok.vocabulary)


def test_each_known_ngram_once_then_its_count_and_unknown_ones_dropped():
    tok = train_tokenizer(TokenizerConfig(kind="ngrams"), ["the cat sat on the mat", "a cat and a dog"])
    ids = tok.encode("the cat the the zebra")
    tokens = [tok.id_to_token(i) for i in ids]
    assert tokens[:4] == ["w:the", "[x3]", "w:cat", "w:the cat"]
    assert "w:zebra" not in tokens and "w:cat the" not in tokens  # never seen in training
    assert len(ids) == len(set(ids))  # each n-gram once (and here one count token)
    # subword n-grams need two training texts: " cat " is in both, " mat " in one
    assert "b: cat " in tok.vocabulary and "b: mat " not in tok.vocabulary
    assert tok.decode(ids) == "the cat"
    assert count_of("[x3]") == 3 and count_of("w:the") == 1
    assert tok.vocabulary[NUM_SPECIAL_TOKENS : NUM_SPECIAL_TOKENS + len(COUNT_TOKENS)] == list(COUNT_TOKENS)


def test_max_ngrams_keeps_those_in_the_most_texts():
    texts = ["the cat sat", "the cat ran", "the dog sat", "a dog ran far"]
    full = train_tokenizer(TokenizerConfig(kind="ngrams"), texts)
    capped = train_tokenizer(TokenizerConfig(kind="ngrams", max_ngrams=12), texts)
    kept = capped.vocabulary[count_tokens_end() :]
    assert (
        len(kept) == 12 and capped.vocabulary[: count_tokens_end()] == full.vocabulary[: count_tokens_end()]
    )
    df = {token: 0 for token in full.vocabulary}
    for ids in full.encode_batch(texts):
        for i in set(ids):
            df[full.id_to_token(i)] += 1
    dropped = set(full.vocabulary[count_tokens_end() :]) - set(kept)
    assert dropped and min(df[t] for t in kept) >= max(df[t] for t in dropped)
    assert kept == sorted(t for t in kept if t.startswith("w:")) + sorted(
        t for t in kept if t.startswith("b:")
    )


def test_a_subset_knows_only_the_chosen_ngrams():
    full = train_tokenizer(TokenizerConfig(kind="ngrams"), ["the cat sat", "a dog ran", "the dog sat"])
    chosen = [full.token_to_id("w:dog"), full.token_to_id("w:cat"), 0]  # a special is not an n-gram to add
    sub = full.subset(chosen)
    assert sub.vocabulary == full.vocabulary[: count_tokens_end()] + ["w:cat", "w:dog"]
    assert sub.decode(sub.encode("the cat and the dog dog")) == "cat dog"
    assert [sub.id_to_token(i) for i in sub.encode("dog dog")] == ["w:dog", "[x2]"]


def test_counts_past_the_cap_encode_as_the_last_count_token():
    tok = NgramTokenizer.train(["go " * 100, "go on"])
    tokens = [tok.id_to_token(i) for i in tok.encode("go " * 100)]
    assert tokens[:2] == ["w:go", COUNT_TOKENS[-1]]


def test_unspaced_text_gets_character_ngrams_and_the_lengths_match_the_recipe_estimate():
    texts = [
        "这部电影非常好看，演员的表演很出色",
        "质量太差了，用了两天就坏了，不推荐购买",
        "电影很好看，推荐",
    ] * 4
    tok = NgramTokenizer.train(texts)
    assert tok.unspaced and tok.first == "c:" and "c:电影" in tok.vocabulary
    start, sub = tok.block_starts()
    assert all(t.startswith("c:") for t in tok.vocabulary[start:sub])
    assert all(t.startswith("b:") for t in tok.vocabulary[sub:])
    for text in texts:  # every n-gram known: the estimate is exact
        assert len(tok.encode(text)) == ngram_positions(text, unspaced=True)
    assert tok.decode(tok.encode("电影")) == "电影"


def test_save_and_load_round_trip(tmp_path: Path):
    tok = NgramTokenizer.train(["Hello there world", "hello world again", "héllo  wörld"])
    tok.save(tmp_path)
    loaded = load_tokenizer(tmp_path)
    assert isinstance(loaded, NgramTokenizer) and loaded.vocabulary == tok.vocabulary
    assert loaded.encode_batch(["hello world", "again?"]) == tok.encode_batch(["hello world", "again?"])
    assert loaded.config()["first_block"] == {"prefix": "w:", "analyzer": "word", "ngrams": [1, 2]}


def test_a_corrupt_vocabulary_is_refused(tmp_path: Path):
    tok = NgramTokenizer.train(["some words here", "more words"])
    tok.save(tmp_path)
    lines = (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (tmp_path / "vocab.txt").write_text("\n".join(lines[:5] + lines[8:]) + "\n", encoding="utf-8")
    with pytest.raises(Exception, match="count tokens|n-gram vocabulary"):
        load_tokenizer(tmp_path)
