"""Long texts are tokenized in whitespace-cut pieces with exactly the ids and words of whole-text calls."""

from __future__ import annotations

import numpy as np

from data.pipelines import encode_documents_for_lm
from data.text_pieces import PIECE_CHARS, batches, pieces
from data.tokenizers import EOS, CharTokenizer
from data.tokenizers.wordpiece import WordPieceTokenizer, count_words


def corpus() -> str:
    """Over five pieces long: short lines, a long line of spaced words, and a long run of unspaced Chinese."""
    lines = [f"Line {i}: the quick brown fox, número {i % 7}!" for i in range(1500)]
    spaced = " ".join(f"word{i}" for i in range(4000))  # one line, longer than a piece
    unspaced = "东京的天气很好我们去公园散步" * 1500  # no space or line break in 21,000 characters
    return "\n".join(lines[:700]) + "\n" + spaced + "\n" + unspaced + "\r\n" + "\n".join(lines[700:])


def test_pieces_join_back_and_cut_after_whitespace():
    text = corpus()
    cut = list(pieces(text))
    assert "".join(cut) == text and len(cut) > 5
    assert all(0 < len(p) <= PIECE_CHARS for p in cut)
    spaced_or_broken = [p for p in cut[:-1] if p[-1] in "\n "]
    assert len(spaced_or_broken) == len(cut) - 2  # all but the cut inside the unspaced run
    assert list(pieces("")) == [] and list(pieces("short")) == ["short"]
    assert list(pieces("ab cd\nef gh", max_chars=4)) == ["ab ", "cd\n", "ef ", "gh"]
    assert list(pieces("abcdefghij", max_chars=4)) == ["abcd", "efgh", "ij"]


def test_batches_bound_texts_and_characters_and_keep_markers_in_order():
    items = ["aaaa", None, "bb", "cccccc", None, "d", "e", "f"]
    groups = list(batches(items, max_chars=6, max_texts=2))
    assert [x for g in groups for x in g] == items
    assert groups == [["aaaa", None, "bb"], ["cccccc", None], ["d", "e"], ["f"]]
    assert list(batches([])) == []


def test_a_long_document_encodes_as_a_whole_document_does():
    text = corpus()
    for tokenizer in (CharTokenizer.train([text]), WordPieceTokenizer.train([text], 600)):
        whole = tokenizer.encode_batch([text, "second document"])
        expected = whole[0] + [EOS] + whole[1]
        stream = encode_documents_for_lm(tokenizer, [text, "second document"])
        assert stream.dtype == np.int32 and stream.tolist() == expected, tokenizer.kind


def test_words_are_counted_as_in_the_whole_text():
    text = corpus()
    whole = count_words(text.splitlines())  # every line shorter than a piece: no cut
    assert count_words([text]) == whole and sum(whole.values()) > 10_000
