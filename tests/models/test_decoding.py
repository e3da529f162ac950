"""models.decoding: the token choice and the shifting context window shared by Keras generation and the runner."""

from __future__ import annotations

import numpy as np
import pytest

from models.decoding import ContextWindow, choose_token, default_keep


def test_context_window_grows_then_shifts_to_its_newest_tokens():
    window = ContextWindow(seq_len=4, keep=2)
    tokens = list(range(10))
    contexts = [window.context(tokens[:n]) for n in range(2, 11)]
    # A prompt of 2: grows to 4 tokens, then restarts on the newest 2 and grows again to 4.
    assert [c[0] for c in contexts] == [0, 0, 0, 3, 3, 3, 6, 6, 6]
    assert contexts[-1] == [6, 7, 8, 9] and contexts[3] == [3, 4]


def test_keep_equal_to_the_window_slides_by_one_token():
    window = ContextWindow(seq_len=4, keep=4)
    tokens = list(range(12))
    for n in range(1, 13):
        assert window.context(tokens[:n]) == tokens[:n][-4:]


def test_a_long_prompt_starts_on_its_last_window_and_a_new_list_restarts():
    window = ContextWindow(seq_len=4, keep=3)
    assert window.context(list(range(9))) == [5, 6, 7, 8]
    assert window.context([1, 2]) == [1, 2]  # shorter than where the window started: another text


def test_keep_is_checked_and_defaults_to_three_quarters():
    with pytest.raises(ValueError, match="keep"):
        ContextWindow(seq_len=4, keep=5)
    assert [default_keep(n) for n in (1, 4, 64, 256)] == [1, 3, 48, 192]


def test_choose_token_greedy_top_k_and_top_p():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    assert choose_token(logits, 0, 0, rng) == 0
    assert set(choose_token(logits, 1.0, 2, rng) for _ in range(200)) == {0, 1}
    assert set(choose_token(logits, 1.0, 0, rng, top_p=0.6) for _ in range(200)) == {0, 1}
    assert set(choose_token(logits, 1.0, 0, rng, top_p=0.4) for _ in range(50)) == {0}
    drawn = [choose_token(logits, 1.0, 0, rng) for _ in range(4000)]
    assert np.bincount(drawn, minlength=4) / 4000 == pytest.approx([0.5, 0.3, 0.15, 0.05], abs=0.03)


def test_the_same_seed_chooses_the_same_tokens():
    logits = np.random.default_rng(1).normal(size=50)
    picks = [
        [choose_token(logits, 0.8, 10, rng) for _ in range(20)]
        for rng in (np.random.default_rng(3), np.random.default_rng(3))
    ]
    assert picks[0] == picks[1]
