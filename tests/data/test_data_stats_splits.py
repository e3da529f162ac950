"""describe() statistics and the train/val/test splitters (stratified, row, corpus)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from data.errors import DataError
from data.loaders import load_dataset
from data.splits import split_corpus, split_frame
from data.stats import describe


def labelled_frame(counts: dict[str, int]) -> pd.DataFrame:
    rows = [(f"{label} example {i}", label) for label, n in counts.items() for i in range(n)]
    frame = pd.DataFrame(rows, columns=["text", "label"])
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    return frame


def test_describe_counts_balance_lengths_duplicates(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\none two three,a\none two three,a\nfour,b\n,a\nfive six,a\nfour,a\n")
    stats = describe(load_dataset(path, need_labels=True))
    json.dumps(stats)  # JSON-serializable
    assert stats["rows"] == 5 and stats["empty_rows_dropped"] == 1
    assert stats["classes"] == [
        {"label": "a", "count": 4, "fraction": 0.8},
        {"label": "b", "count": 1, "fraction": 0.2},
    ]
    assert stats["num_classes"] == 2 and stats["imbalance_ratio"] == 4.0
    assert stats["duplicate_texts"] == 2 and stats["conflicting_duplicates"] == 1  # "four" is both a and b
    assert stats["chars"]["max"] == 13 and stats["chars"]["p50"] == 8.0
    assert stats["words"]["max"] == 3 and stats["words"]["p50"] == 2.0
    assert set(stats["chars"]) == {"p50", "p90", "p99", "max", "mean"}
    assert stats["text_column"] == "text" and stats["label_column"] == "label" and stats["format"] == "csv"


def test_describe_unlabelled_corpus(tmp_path):
    (tmp_path / "c.txt").write_text("to be or not to be\nthat is the question\n")
    stats = describe(load_dataset(tmp_path / "c.txt"))
    json.dumps(stats)
    assert stats["rows"] == 1 and not stats["labelled"] and stats["classes"] == []
    assert stats["imbalance_ratio"] is None and stats["total_chars"] == 40
    # One document: lengths per line (two lines of 6 and 4 words), not one length of the whole file.
    assert stats["lines"] == 2 and stats["words"]["max"] == 6 and stats["chars"]["max"] == 20
    assert stats["length_unit"] == "characters and words per line"


def test_stratified_split_keeps_class_fractions_and_no_overlap():
    frame = labelled_frame({"ham": 400, "spam": 60, "rare": 10})
    splits = split_frame(frame, 0.1, 0.2, seed=7)
    parts = (splits.train, splits.val, splits.test)
    assert sum(len(p) for p in parts) == len(frame)
    indices = [set(p.index) for p in parts]
    assert not (indices[0] & indices[1] or indices[0] & indices[2] or indices[1] & indices[2])
    assert splits.val["label"].value_counts().to_dict() == {"ham": 40, "spam": 6, "rare": 1}
    assert splits.test["label"].value_counts().to_dict() == {"ham": 80, "spam": 12, "rare": 2}
    assert splits.train["label"].value_counts().to_dict() == {"ham": 280, "spam": 42, "rare": 7}
    assert splits.warnings == []
    assert list(splits.train["label"][:20]) != sorted(splits.train["label"][:20])  # shuffled, not grouped


def test_split_is_deterministic_and_seed_dependent():
    frame = labelled_frame({"a": 50, "b": 50})
    first, again, other = (split_frame(frame, seed=s) for s in (1, 1, 2))
    for name in ("train", "val", "test"):
        assert getattr(first, name).index.tolist() == getattr(again, name).index.tolist()
    assert first.val.index.tolist() != other.val.index.tolist()


def test_tiny_classes_warn_but_stay_in_train():
    frame = labelled_frame({"big": 100, "one": 1, "two": 2})
    splits = split_frame(frame, 0.1, 0.1, seed=0)
    assert set(splits.train["label"]) == {"big", "one", "two"}
    assert "one" not in set(splits.val["label"]) | set(splits.test["label"])
    text = " ".join(splits.warnings)
    assert "Class 'one' has only 1 row(s), so it has none in val and test" in text
    assert "Class 'two' has only 2 row(s)" in text and "big" not in text


def test_unlabelled_rows_split_by_row():
    frame = pd.DataFrame({"text": [f"doc {i}" for i in range(100)]})
    splits = split_frame(frame, 0.1, 0.15, seed=3)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (75, 10, 15)
    assert sorted(
        splits.train.index.tolist() + splits.val.index.tolist() + splits.test.index.tolist()
    ) == list(range(100))


def test_stratify_false_ignores_labels():
    frame = labelled_frame({"a": 90, "b": 10})
    splits = split_frame(frame, 0.5, 0.0, seed=0, stratify=False)
    assert len(splits.val) == 50 and len(splits.test) == 0


def test_single_document_frame_splits_by_characters():
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    splits = split_frame(pd.DataFrame({"text": [text]}), 0.1, 0.05)
    assert len(splits.train.iloc[0]["text"]) == 850
    assert splits.train.iloc[0]["text"] + splits.val.iloc[0]["text"] + splits.test.iloc[0]["text"] == text


def test_split_corpus_takes_the_end():
    parts = split_corpus("0123456789", 0.2, 0.1)
    assert (parts.train, parts.val, parts.test) == ("0123456", "78", "9")
    assert split_corpus("abc", 0.0, 0.0).train == "abc"


@pytest.mark.parametrize("val,test", [(0.6, 0.5), (-0.1, 0.1), (1.0, 0.0)])
def test_bad_fractions(val, test):
    with pytest.raises(DataError, match="leave nothing to train on"):
        split_frame(labelled_frame({"a": 5, "b": 5}), val, test)


def test_too_few_rows_to_split():
    with pytest.raises(DataError, match="too few to split"):
        split_frame(pd.DataFrame({"text": ["a", "b"]}), 0.4, 0.4)
    with pytest.raises(DataError, match="too few to split"):
        split_corpus("ab", 0.4, 0.4)


def test_split_works_on_loaded_demo_dataset():
    from pathlib import Path

    demo = Path(__file__).resolve().parents[2] / "assets" / "demo" / "sms_spam_demo.csv"
    loaded = load_dataset(demo, need_labels=True)
    splits = split_frame(loaded.frame)
    assert splits.val["label"].value_counts().to_dict() == {"ham": 174, "spam": 26}
    assert np.isclose((splits.train["label"] == "spam").mean(), 264 / 2000, atol=0.002)


def test_describe_texts_without_spaces_counts_characters_not_words(tmp_path):
    rows = ["text,label", "这部电影非常好看，演员的表演很出色,好", "质量太差了，用了两天就坏了,差"] * 20
    (tmp_path / "zh.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    stats = describe(load_dataset(tmp_path / "zh.csv", need_labels=True))
    assert "words" not in stats and stats["length_unit"] == "characters"  # every review would be 1 "word"
    assert stats["chars"]["max"] == 17 and "lines" not in stats
