"""The classic baseline of classifier reports: features chosen from the script, C from validation, no crash."""

from __future__ import annotations

import numpy as np

from models.tasks.tfidf_baseline import features_for, tfidf_logreg

LABELS = ["neg", "pos"]


def _split(texts: list[str], labels: list[str]) -> tuple[list[str], np.ndarray]:
    return texts, np.asarray([LABELS.index(label) for label in labels])


def test_spaced_text_gets_word_ngrams_and_unspaced_text_character_ngrams():
    assert features_for(["the film was a joy to watch", "I hated it"])["analyzer"] == "word"
    chinese = ["这部电影非常好看，演员的表演很出色", "质量太差了，用了两天就坏了，不推荐购买"]
    assert features_for(chinese) == {"analyzer": "char", "ngram_range": (1, 3)}


def test_baseline_learns_a_chinese_keyword_task():
    good, bad = ["很好", "喜欢", "满意"], ["很差", "失望", "退货"]
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(200):
        label = LABELS[i % 2]
        word = rng.choice(good if label == "pos" else bad)
        texts.append(f"这个产品{word}，物流速度一般，包装{rng.choice(['还行', '普通', '不错'])}")
        labels.append(label)
    report = tfidf_logreg(_split(texts[:140], labels[:140]), _split(texts[140:170], labels[140:170]),
                          _split(texts[170:], labels[170:]), LABELS)  # fmt: skip
    assert report["features"] == "char 1-3-grams" and report["macro_f1"] > 0.95


def test_baseline_that_cannot_be_fitted_reports_why_instead_of_failing():
    one_class = _split(["a b", "c d", "e f"], ["pos", "pos", "pos"])
    report = tfidf_logreg(one_class, one_class, one_class, LABELS)
    assert "error" in report and "class" in report["error"]
