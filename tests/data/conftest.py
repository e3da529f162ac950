"""Fixtures for the data tests: the bundled demo SMS texts and one small trained WordPiece tokenizer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"


@pytest.fixture(scope="session")
def sms_texts() -> list[str]:
    return pd.read_csv(DEMO / "sms_spam_demo.csv", dtype=str, keep_default_na=False)["text"].tolist()


@pytest.fixture(scope="session")
def wordpiece(sms_texts):
    """Trained once per session: keras-hub's vocabulary learner is pure Python and takes seconds."""
    from data.tokenizers import train_tokenizer
    from models.config import TokenizerConfig

    return train_tokenizer(TokenizerConfig(kind="wordpiece", vocab_size=400, lowercase=True), sms_texts[:300])
