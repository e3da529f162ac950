"""The linear TF-IDF kind: the Keras graph computes the fit's features, the features are scikit-learn's, and a
default run fits it in closed form through the engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from app.cli import main
from data.pipelines import pack_for_classification
from data.tokenizers import NgramTokenizer
from models.architecture.builders import backbone_kind, build_model, get_backbone
from models.config import ModelConfig
from models.engine.linear_fit import _set_weights, tfidf_matrix, token_tables
from tests.conftest import make_sentiment_csv

TEXTS = [
    "the film was wonderful and the acting wonderful",
    "a dull film, dull acting and a dull plot",
    "wonderful music; the plot was thin",
    "I would not watch it again",
    "again and again: a wonderful film",
    "the acting was thin and the music dull",
]


def _packed(texts: list[str], seq_len: int = 256) -> tuple[NgramTokenizer, np.ndarray]:
    tokenizer = NgramTokenizer.train(texts)
    ids, truncated = pack_for_classification(tokenizer, texts, seq_len)
    assert truncated == 0
    return tokenizer, ids


def test_the_features_are_scikit_learns_tfidf_with_each_block_normalised():
    tokenizer, ids = _packed(TEXTS)
    ours = tfidf_matrix(ids, token_tables(tokenizer, ids)).toarray()
    vocab = {token: i for i, token in enumerate(tokenizer.vocabulary)}
    blocks = [
        ("w:", TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b\w+\b", ngram_range=(1, 2))),
        ("b:", TfidfVectorizer(sublinear_tf=True, analyzer="char_wb", ngram_range=(2, 5), min_df=2)),
    ]
    for prefix, vectorizer in blocks:
        theirs = vectorizer.fit_transform(TEXTS).toarray()
        columns = [vocab[prefix + g] for g in vectorizer.get_feature_names_out()]
        assert len(columns) == sum(t.startswith(prefix) for t in tokenizer.vocabulary)
        np.testing.assert_allclose(ours[:, columns], theirs, atol=1e-9)
    assert np.count_nonzero(ours[:, : tokenizer.block_starts()[0]]) == 0  # specials, counts: no weight


@pytest.mark.backend
def test_the_keras_graph_computes_the_fits_decision_values():
    tokenizer, ids = _packed(TEXTS * 3)
    tables = token_tables(tokenizer, ids)
    cfg = ModelConfig(kind="linear", preset=None, vocab_size=tokenizer.vocab_size, num_classes=3, seq_len=256)
    model = build_model(cfg, "classifier")
    assert backbone_kind(get_backbone(model)) == "linear"
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(tokenizer.vocab_size, 3)), rng.normal(size=3)
    _set_weights(model, tables, kernel, bias)
    expected = tfidf_matrix(ids, tables) @ kernel + bias
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected, rtol=1e-4, atol=1e-4)
    # a weight per n-gram and class, the three per-token tables, the identity head
    assert model.count_params() == tokenizer.vocab_size * (3 + 3) + 3 * 3 + 3


def test_the_linear_kind_is_for_classifiers_only():
    from data.errors import DataError

    with pytest.raises(DataError, match="one label per text"):
        build_model(ModelConfig(kind="linear", vocab_size=50, num_classes=3), "token_classifier")


def test_a_default_run_fits_the_linear_model_in_closed_form(tmp_path: Path, capsys):
    data = make_sentiment_csv(tmp_path / "s.csv", rows=400)
    code = main(["--workspace", str(tmp_path / "ws"), "train", "--data", str(data), "--quiet"])  # no flags
    out = capsys.readouterr().out
    assert code == 0 and "recipe: n-gram features" in out and "recipe: linear TF-IDF model" in out, out
    (run,) = (tmp_path / "ws" / "runs").iterdir()
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["kind"] == "linear" and config["tokenizer"]["kind"] == "ngrams"
    report = json.loads((run / "eval.json").read_text())
    assert report["accuracy"] > 0.5 + 0.3  # two balanced classes: the majority class scores 0.5
    assert report["macro_f1"] >= report["baseline"]["macro_f1"] - 0.02
    (epoch,) = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epoch["kind"] == "epoch" and epoch["C"] in (1.0, 10.0, 100.0)
    assert epoch["val_macro_f1"] == pytest.approx(report["val_macro_f1"])  # the saved model is the fit
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "completed" and status["fit"]["features"] > 100


def test_the_size_estimate_counts_a_weight_per_ngram_and_class_and_no_optimizer_state():
    from models.config import RunConfig
    from models.engine.plan import NGRAM_VOCAB_GUESS, size_estimate

    config = RunConfig(task="classifier")
    config.model.kind, config.tokenizer.kind = "linear", "ngrams"
    estimate = size_estimate(config, num_classes=3)
    assert estimate["params"] == NGRAM_VOCAB_GUESS * (3 + 3) + 3 * 3 + 3
    assert estimate["gradient_bytes"] == estimate["optimizer_bytes"] == 0  # fitted by liblinear, not AdamW
