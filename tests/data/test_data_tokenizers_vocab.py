"""WordPiece vocabulary learning: exact merges, requested size, determinism, full coverage, encode-time words."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.errors import DataError
from data.special_tokens import SPECIAL_TOKENS, UNK
from data.tokenizers.wordpiece import WordPieceTokenizer, count_words
from data.tokenizers.wordpiece_py import MAX_BYTES_PER_WORD, pretokenize
from data.tokenizers.wordpiece_vocab import learn_vocabulary

SHAKESPEARE = Path(__file__).resolve().parents[2] / "assets" / "demo" / "shakespeare_1mb.txt"
RESERVED = ["[PAD]", "[UNK]"]


def naive_merges(counts: dict[str, int], vocab_size: int) -> list[str]:
    """Textbook BPE with "##" pieces, recounting every pair each step: the oracle for the fast learner."""
    chars = Counter()
    for word, n in counts.items():
        for ch in word:
            chars[ch] += n
    inner = {ch for word in counts if len(word) > 1 for ch in word}
    vocab = list(RESERVED)
    for ch, _ in sorted(chars.items(), key=lambda item: (-item[1], item[0])):
        forms = [ch, "##" + ch] if ch in inner else [ch]
        if len(vocab) + len(forms) > vocab_size:
            break  # the most frequent characters that fit
        vocab += forms
    counts = {w: n for w, n in counts.items() if all(ch in vocab for ch in w)}
    ranked = sorted(
        (item for item in counts.items() if len(item[0]) > 1), key=lambda item: (-item[1], item[0])
    )
    words = [([w[0]] + ["##" + ch for ch in w[1:]], n) for w, n in ranked]
    while len(vocab) < vocab_size:
        pairs = Counter()
        for syms, n in words:
            for pair in zip(syms, syms[1:], strict=False):
                pairs[pair] += n
        if not pairs:
            break
        (a, b), n = min(pairs.items(), key=lambda item: (-item[1], item[0]))
        if n < 2:
            break
        merged = a + b[2:]
        if merged not in vocab:
            vocab.append(merged)
        for k, (syms, count) in enumerate(words):
            out, i = [], 0
            while i < len(syms):
                if syms[i : i + 2] == [a, b]:
                    out.append(merged)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[k] = (out, count)
    return vocab


def test_merges_worked_example():
    counts = {"hug": 10, "pug": 5, "pun": 12, "bun": 4, "hugs": 5, ",": 7}
    alphabet = ["u", "##u", "g", "##g", "p", "##p", "n", "##n", "h", "##h", ",", "s", "##s", "b", "##b"]
    merges = ["##ug", "##un", "hug", "pun", "hugs", "pug", "bun"]  # "hugs" before "pug": tie, sorted
    assert learn_vocabulary(counts, 100, RESERVED) == RESERVED + alphabet + merges  # "," alone: no "##,"
    assert learn_vocabulary(counts, 19, RESERVED) == RESERVED + alphabet + merges[:2]
    # Too small for every character: the most frequent ones stay, merges use only words made of them.
    assert learn_vocabulary(counts, 9, RESERVED) == RESERVED + alphabet[:6] + ["##ug"]


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.text(alphabet="abcx", min_size=1, max_size=9), st.integers(1, 6), max_size=40),
    st.integers(3, 60),
)
def test_fast_learner_matches_naive_bpe(counts, vocab_size):
    assert learn_vocabulary(counts, vocab_size, RESERVED) == naive_merges(counts, vocab_size)


def test_requested_size_deterministic_and_order_free(sms_texts):
    first = WordPieceTokenizer.train(sms_texts, 1500)
    assert first.vocab_size == 1500 and first.vocabulary[:5] == list(SPECIAL_TOKENS)
    assert WordPieceTokenizer.train(sms_texts, 1500).vocabulary == first.vocabulary
    assert WordPieceTokenizer.train(sms_texts[::-1], 1500).vocabulary == first.vocabulary


def test_shakespeare_hits_size_and_training_text_has_no_unk():
    lines = SHAKESPEARE.read_text(encoding="utf-8").split("\n")[:6000]
    tok = WordPieceTokenizer.train(lines, 2000)
    assert tok.vocab_size == 2000 and len(set(tok.vocabulary)) == 2000
    ids = tok.encode_batch(lines)
    assert UNK not in {i for row in ids for i in row}  # every character seen in training is covered
    words = sum(len(pretokenize(line, True)) for line in lines)
    assert sum(map(len, ids)) < 1.3 * words  # learned pieces, not characters


def test_words_counted_as_encode_splits_them(sms_texts):
    texts = [
        *sms_texts[:400],
        "Café déjà vu, naïve RÉSUMÉ!",
        "ﬁne Straße İstanbul",
        "東京は晴れ 😀👍🏽",
        "x" * 120,
    ]
    expected = Counter(w for t in texts for w in pretokenize(t, True))
    assert count_words(texts, lowercase=True) == expected
    cased = Counter(w for t in texts for w in pretokenize(t, False))
    assert count_words(texts, lowercase=False) == cased


def test_overlong_words_do_not_shape_the_vocabulary():
    long_word = "q" * (MAX_BYTES_PER_WORD + 1)  # tf-text encodes it as [UNK] whatever the vocabulary
    vocab = learn_vocabulary({long_word: 50, "ab": 3}, 100, RESERVED)
    assert vocab == [*RESERVED, "a", "##a", "b", "##b", "ab"]


def test_text_without_words_is_a_data_error():
    with pytest.raises(DataError, match="no words"):
        WordPieceTokenizer.train(["   ", "\t\n"], 100)
