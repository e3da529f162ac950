"""Shared fixtures for the data tests: repository paths and one small trained WordPiece tokenizer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "demo"
SHARED = ROOT.parent / "shared" / "data"


def shared_file(name: str) -> Path:
    """A file from ../shared/data, or skip the test when it is not there."""
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def sms_texts() -> list[str]:
    return pd.read_csv(DEMO / "sms_spam_demo.csv", dtype=str, keep_default_na=False)["text"].tolist()


@pytest.fixture(scope="session")
def wordpiece(sms_texts):
    """Trained once per session: keras-hub's vocabulary learner is pure Python and takes seconds."""
    from data.tokenizers import train_tokenizer
    from models.config import TokenizerConfig

    return train_tokenizer(TokenizerConfig(kind="wordpiece", vocab_size=400, lowercase=True), sms_texts[:300])
