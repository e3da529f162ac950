"""The real datasets in ../shared/data load with the documented counts (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.loaders import load_dataset
from data.splits import split_frame
from data.stats import describe

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    return path


def test_sms_spam_counts():
    loaded = load_dataset(shared("sms_spam.csv"), need_labels=True)
    assert len(loaded.frame) == 4837 and loaded.warnings == []
    assert loaded.frame["label"].value_counts().to_dict() == {"ham": 4199, "spam": 638}
    stats = describe(loaded)
    assert stats["duplicate_texts"] == 315 and stats["num_classes"] == 2


def test_fortunes_counts():
    loaded = load_dataset(shared("fortunes.csv"), need_labels=True)
    assert len(loaded.frame) == 15213 and loaded.frame["label"].nunique() == 43
    assert "\n" in loaded.frame["text"].iloc[0]  # quoted multi-line fortunes stay whole
    splits = split_frame(loaded.frame, seed=0)
    assert set(splits.train["label"]) == set(loaded.frame["label"])  # every class present in train


def test_shakespeare_lines_and_corpus():
    path = shared("shakespeare.txt")
    corpus = load_dataset(path)
    assert len(corpus.frame) == 1 and len(corpus.frame["text"].iloc[0]) > 5_000_000
    lines = load_dataset(path, text_mode="lines", max_rows=1000)
    assert len(lines.frame) == 1000 and lines.cut_at_max_rows == 1000


def test_demo_assets_regenerate_byte_for_byte(tmp_path):
    import importlib.util

    sms_source, text_source = shared("sms_spam.csv"), shared("shakespeare.txt")
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("make_demo_assets", root / "bench" / "make_demo_assets.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.make_sms(sms_source, tmp_path / "sms.csv")
    script.make_shakespeare(text_source, tmp_path / "sh.txt")
    demo = root / "assets" / "demo"
    assert (tmp_path / "sms.csv").read_bytes() == (demo / "sms_spam_demo.csv").read_bytes()
    assert (tmp_path / "sh.txt").read_bytes() == (demo / "shakespeare_1mb.txt").read_bytes()
