"""The word-feature tokenizer: a fixed group of ids per word, slot unknowns, the ceiling, save/load."""

from __future__ import annotations

import pytest

from data import tokenizers as tk
from data.config import WORD_SLOTS as SLOTS
from data.errors import DataError
from data.token_alignment import align_words
from data.tokenizers import WordFeatureTokenizer, load_tokenizer, train_tokenizer
from data.tokenizers.word_features import word_features, word_shape
from models.config import TokenizerConfig

TEXTS = ["Anna flew to Paris", "anna met Bob in Paris", "Bob flew to Oslo 2016"]


@pytest.mark.parametrize(
    ("word", "shape"),
    [("McGill", "XxXx"), ("@nasa", "@x"), ("2016", "d"), ("U.S.", "X.X."), ("東京", "L"), ("#NBA", "#X")],
)
def test_shapes(word, shape):
    assert word_shape(word) == shape


def test_features_of_a_word():
    assert word_features("Paris") == ("w:paris", "p:par", "s:ris", "x:Xx")
    assert word_features("Jo") == ("w:jo", "p:jo", "s:jo", "x:Xx")
    crf_slots = ("w", "p1", "p2", "p4", "s1", "s2", "s4")  # the CRF's affixes of other lengths
    assert word_features("Paris", crf_slots) == (
        "w:paris",
        "p1:p",
        "p2:pa",
        "p4:pari",
        "s1:s",
        "s2:is",
        "s4:aris",
    )


def test_the_bigram_slot_reads_the_next_word_in_the_sentence():
    texts = ["张 伟 去 北 京", "北 京 很 大", "北 京 很"]
    tok = WordFeatureTokenizer.train(texts, min_frequency=1, slots=("w", "x", "b"))
    assert word_features("京", ("w", "b"), "很") == ("w:京", "b:京|很")
    assert tok.encode("北 京 很") == [*_ids(tok, "北", "京"), *_ids(tok, "京", "很"), *_ids(tok, "很", "")]
    assert _ids(tok, "很", "") == [tok.token_to_id(t) for t in ("w:很", "x:L", "b:很|")]
    # A tagger encodes sentence by sentence, so "京" ends one sentence ("京|") and not the other ("京|很").
    (first, second) = tok.encode_words([["北", "京"], ["北", "京", "很"]])
    assert first[1][2] == tok.token_to_id("b:京|") and second[1][2] == tok.token_to_id("b:京|很")
    assert second == [tok.encode("北 京 很")[3 * i : 3 * i + 3] for i in range(3)]
    assert tok.encode_words([[]]) == [[]] and tok.encode("") == []
    aligned = align_words(tok, [["北", "京", "很"]], [[1, 2, 0]], seq_len=16)
    assert aligned.ids[0, 1:10].tolist() == tok.encode("北 京 很")


def _ids(tok: WordFeatureTokenizer, word: str, following: str) -> list[int]:
    return [tok.token_to_id(v) for v in word_features(word, tok.slots, following)]


def test_every_word_is_one_group_and_rare_values_are_their_slots_unknowns():
    tok = train_tokenizer(TokenizerConfig(kind="word_features", min_frequency=2), TEXTS)
    assert isinstance(tok, WordFeatureTokenizer) and tok.vocabulary[:5] == list(tk.SPECIAL_TOKENS)
    assert "w:paris" in tok.vocabulary and "w:anna" in tok.vocabulary  # twice each ("Anna" and "anna")
    assert "w:oslo" not in tok.vocabulary and "w:met" not in tok.vocabulary  # once each
    ids = tok.encode("Anna met Zed")
    assert len(ids) == 3 * len(SLOTS)
    unknown = [tok.token_to_id(f"{slot}:?") for slot in SLOTS]
    assert len(set(unknown)) == len(SLOTS) and tk.UNK not in unknown
    assert ids[4] == unknown[0] and ids[8] == unknown[0]  # "met" and "Zed" have no form of their own
    assert ids[11] == tok.token_to_id("x:Xx")  # but Zed's shape is known
    assert tok.decode(ids) == "anna ? ?"
    assert tok.encode(" ") == [] and tok.encode("") == []


def test_vocab_size_is_a_ceiling_keeping_the_most_frequent():
    full = train_tokenizer(TokenizerConfig(kind="word_features", min_frequency=1, vocab_size=10_000), TEXTS)
    small = train_tokenizer(TokenizerConfig(kind="word_features", min_frequency=1, vocab_size=12), TEXTS)
    assert small.vocab_size == 12 < full.vocab_size
    assert {"x:x", "x:Xx"} <= set(small.vocabulary)  # the commonest values (7 and 6 of the 14 words)


def test_save_load_round_trip(tmp_path):
    tok = train_tokenizer(TokenizerConfig(kind="word_features", min_frequency=1), TEXTS)
    tok.save(tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    assert isinstance(loaded, WordFeatureTokenizer) and loaded.vocabulary == tok.vocabulary
    assert loaded.encode_batch(TEXTS) == tok.encode_batch(TEXTS)


def test_tags_sit_on_each_group_first_id():
    tok = train_tokenizer(TokenizerConfig(kind="word_features", min_frequency=1), TEXTS)
    aligned = align_words(tok, [["Anna", "flew", "to", "Paris"]], [[1, 0, 0, 2]], seq_len=32)
    firsts = [i for i, w in enumerate(aligned.weights[0]) if w]
    assert firsts == [1, 5, 9, 13]  # [BOS], then 4 ids per word, no separator
    assert aligned.labels[0, firsts].tolist() == [1, 0, 0, 2]
    assert aligned.ids[0, 1] == tok.token_to_id("w:anna")


def test_no_words_is_a_data_error():
    with pytest.raises(DataError, match="no words"):
        train_tokenizer(TokenizerConfig(kind="word_features"), ["   ", ""])


def test_language_models_refuse_word_features(tmp_path):
    from models.config import RunConfig
    from models.tasks.preparation import lm_texts

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Anna flew to Paris\n" * 20, encoding="utf-8")
    config = RunConfig(task="causal_lm")
    config.data.path, config.tokenizer.kind = str(corpus), "word_features"
    with pytest.raises(DataError, match="char or wordpiece"):
        lm_texts(config)


def test_chosen_slots_only_and_saved_with_the_vocabulary(tmp_path):
    texts = ["张 伟 去 北 京", "李 娜 在 北 京"]
    config = TokenizerConfig(kind="word_features", min_frequency=1, word_slots=["w", "x"])
    tok = train_tokenizer(config, texts)
    assert tok.slots == ("w", "x") and not any(t.startswith(("p:", "s:")) for t in tok.vocabulary)
    ids = tok.encode("张 伟 去 上 海")
    assert len(ids) == 5 * 2 and ids[1] == tok.token_to_id("x:L") and ids[6] == tok.token_to_id("w:?")
    tok.save(tmp_path / "tok")
    loaded = load_tokenizer(tmp_path / "tok")
    assert loaded.slots == ("w", "x") and loaded.encode_batch(texts) == tok.encode_batch(texts)


@pytest.mark.parametrize("slots", [[], ["x", "w"], ["w", "w"], ["w", "q"]])
def test_slots_must_start_with_the_word_each_once(slots):
    with pytest.raises(DataError, match="slots"):
        train_tokenizer(TokenizerConfig(kind="word_features", word_slots=slots), TEXTS)
