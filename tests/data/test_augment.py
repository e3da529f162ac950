"""Perturbed copies for a distillation transfer set: deterministic, words left out, short spans, per script."""

from __future__ import annotations

from data.augment import SPAN_WORDS, perturbed_copies

TEXTS = [
    "the quick brown fox jumps over the lazy dog near the river bank today",
    "今天天气很好我们一起去公园散步然后回家吃饭",
    "one",
]


def test_copies_are_deterministic_and_counted():
    first = perturbed_copies(TEXTS, 5, seed=3)
    assert first == perturbed_copies(TEXTS, 5, seed=3)
    assert first != perturbed_copies(TEXTS, 5, seed=4)
    assert len(first) == 15 and all(first)
    assert perturbed_copies(TEXTS, 0, seed=3) == [] and perturbed_copies([], 3, seed=3) == []


def test_copies_keep_words_in_order_and_spans_are_short():
    words = TEXTS[0].split()
    copies = perturbed_copies([TEXTS[0]] * 200, 1, seed=0)
    for copy in copies:
        kept = copy.split()
        it = iter(words)
        assert all(word in it for word in kept)  # a subsequence: nothing invented, nothing reordered
    lengths = [len(c.split()) for c in copies]
    assert min(lengths) <= SPAN_WORDS[1]  # some copies are short spans
    assert any(SPAN_WORDS[1] < n < len(words) for n in lengths)  # some have words left out
    assert max(lengths) <= len(words)


def test_a_script_without_spaces_is_cut_by_characters():
    copies = perturbed_copies([TEXTS[1]] * 50, 1, seed=1)
    assert all(" " not in c and set(c) <= set(TEXTS[1]) for c in copies)
    assert any(len(c) <= SPAN_WORDS[1] for c in copies)
