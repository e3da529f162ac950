"""CoNLL loading (token<TAB>tag, blank lines, BIO), error messages with line numbers, spans, sub-word alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.conll import entity_spans, is_conll_path, load_conll
from data.errors import DataError
from data.pipelines import EpochOrder
from data.special_tokens import BOS, PAD
from data.token_alignment import align_words, token_classification_dataset
from data.tokenizers import CharTokenizer

GOOD = "Empire\tB-facility\nState\tI-facility\nis\tO\ntall\tO\n\t\nJohn\tB-person\nwaved\tO\n"


def write(tmp_path: Path, text: str, name: str = "tags.conll") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_sentences_tags_and_whitespace_only_separators(tmp_path):
    data = load_conll(write(tmp_path, "-DOCSTART-\tO\n\n" + GOOD + "\n\n\n"))
    assert data.sentences == [["Empire", "State", "is", "tall"], ["John", "waved"]]
    assert data.tags == [["B-facility", "I-facility", "O", "O"], ["B-person", "O"]]
    assert data.first_lines == [3, 8]
    assert data.tag_set == ["O", "B-facility", "B-person", "I-facility"]
    assert data.entity_counts() == {"facility": 1, "person": 1}
    assert is_conll_path("x/ner.CONLL") and not is_conll_path("x/ner.csv")


def test_crlf_bom_and_max_sentences(tmp_path):
    path = tmp_path / "win.conll"
    path.write_bytes(("\ufeff" + GOOD.replace("\n", "\r\n")).encode("utf-8"))
    data = load_conll(path, max_sentences=1)
    assert data.sentences == [["Empire", "State", "is", "tall"]]
    assert any("first 1 sentences" in w for w in data.warnings)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("Hello\tO\nworld O\n", r"line 2 \('world O'\) has no tab; expected exactly token<TAB>tag"),
        ("a\tO\n\nb\tB-x\textra\n", r"line 3 .* has 3 tab-separated fields"),
        ("a\tO\nb\tPERSON\n", r"line 2 .* has the tag 'PERSON', which is not a BIO tag"),
        ("a\tO\nb\tB-\n", r"line 2 .* not a BIO tag"),
        ("a\tB-x\n \tO\n", r"line 2 .* has an empty token"),
        ("a\tO\nb\tO\n", r"uses only the tag 'O'"),
        ("\n\n", r"holds no tagged tokens"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, text, pattern):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=pattern) as err:
        load_conll(path)
    assert str(path) in str(err.value) and "What to do:" in str(err.value)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(DataError, match="was not found"):
        load_conll(tmp_path / "nope.conll")
    path = tmp_path / "latin1.conll"
    path.write_bytes("caf\xe9\tO\nx\tB-y\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load_conll(path)


def test_entity_spans_follow_seqeval():
    assert entity_spans(["B-per", "I-per", "O", "B-loc"]) == [("per", 0, 1), ("loc", 3, 3)]
    assert entity_spans(["B-per", "B-per"]) == [("per", 0, 0), ("per", 1, 1)]  # B starts a new span
    assert entity_spans(["O", "I-org", "I-org"]) == [("org", 1, 2)]  # I after O starts one (non-strict)
    assert entity_spans(["B-per", "I-loc"]) == [("per", 0, 0), ("loc", 1, 1)]  # a type change splits
    assert entity_spans(["O", "O"]) == []


def test_alignment_labels_only_first_sub_tokens_and_keeps_word_boundaries():
    tokenizer = CharTokenizer.train(["ab cd ef"])
    a, b, space = (tokenizer.encode(c)[0] for c in "ab ")
    aligned = align_words(tokenizer, [["ab", "b"], ["a"]], [[2, 1], [3]], seq_len=8)
    # [BOS] a b ' ' b [PAD]...: the char tokenizer's space separates the words but carries no label.
    assert aligned.ids[0].tolist() == [BOS, a, b, space, b, PAD, PAD, PAD]
    assert aligned.weights[0].tolist() == [0, 1, 0, 0, 1, 0, 0, 0]
    assert aligned.labels[0].tolist() == [0, 2, 0, 0, 1, 0, 0, 0]
    assert aligned.words_kept.tolist() == [2, 1] and aligned.truncated_words == 0

    cut = align_words(tokenizer, [["ab", "ab", "ab"]], None, seq_len=5)
    assert cut.ids[0].tolist() == [BOS, a, b, space, a]  # the second word keeps its first piece
    assert cut.words_kept.tolist() == [2] and cut.truncated_words == 1
    assert cut.weights[0].sum() == 2


def test_alignment_with_wordpiece_and_dataset_batches(wordpiece):
    sentences = [["Free", "entry", "now"], ["call", "me"]]
    aligned = align_words(wordpiece, sentences, [[1, 0, 0], [2, 0]], seq_len=12)
    for row, words in enumerate(sentences):
        starts = np.flatnonzero(aligned.weights[row])
        assert len(starts) == len(words)
        pieces = [wordpiece.encode(w) for w in words]
        assert starts.tolist() == (1 + np.cumsum([0] + [len(p) for p in pieces[:-1]])).tolist()
    batches = list(
        token_classification_dataset(aligned, 2, EpochOrder(shuffle=True, seed=1)).as_numpy_iterator()
    )
    x, y, w = batches[0]
    assert x.dtype == np.int32 and y.dtype == np.int32 and w.dtype == np.float32 and x.shape == (2, 12)


def test_shared_ner_twitter_file_loads(shared_data):
    data = load_conll(shared_data / "ner_twitter.conll")
    assert len(data.sentences) == 2394
    assert len(data.tag_set) == 21 and data.tag_set[0] == "O"
    assert set(data.entity_counts()) >= {"person", "geo-loc", "company"}
