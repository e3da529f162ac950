"""BIO-constrained decoding of tags, and the entity metrics checked against seqeval."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from data.bio_decoding import allowed_transitions, decode_tags, log_softmax, viterbi

TAGS = ["O", "B-geo", "B-person", "I-geo", "I-person"]


def valid(tags: list[str]) -> bool:
    """I-x only right after B-x or I-x."""
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


def brute_force(log_probs: np.ndarray, tags: list[str]) -> float:
    """The best score over every valid sequence (exhaustive: small cases only)."""
    best = -np.inf
    for path in itertools.product(range(len(tags)), repeat=len(log_probs)):
        if valid([tags[k] for k in path]):
            best = max(best, sum(log_probs[w, k] for w, k in enumerate(path)))
    return best


def test_decoding_never_emits_an_invalid_sequence_and_finds_the_best_valid_one():
    rng = np.random.default_rng(0)
    for _ in range(300):
        words = int(rng.integers(1, 6))
        logits = rng.normal(0, 3, size=(words, len(TAGS)))
        logits[:, 3:] += 2.0  # make I- tags tempting, so the argmax is often invalid
        decoded = decode_tags(logits, TAGS)
        assert len(decoded) == words and valid(decoded), decoded
        log_probs = log_softmax(logits)
        score = sum(log_probs[w, TAGS.index(t)] for w, t in enumerate(decoded))
        assert score == pytest.approx(brute_force(log_probs, TAGS))


def test_decoding_repairs_what_an_argmax_gets_wrong_and_keeps_what_it_gets_right():
    def one_hot(names: list[str], margin: float = 5.0) -> np.ndarray:
        logits = np.zeros((len(names), len(TAGS)))
        for w, name in enumerate(names):
            logits[w, TAGS.index(name)] = margin
        return logits

    right = ["B-person", "I-person", "O", "B-geo"]
    assert decode_tags(one_hot(right), TAGS) == right
    # "O I-person": the I- wins its word only narrowly over B-person, so the valid repair is B-person.
    logits = one_hot(["O", "I-person"])
    logits[1, TAGS.index("B-person")] = 4.0
    assert decode_tags(logits, TAGS) == ["O", "B-person"]


def test_tags_outside_the_bio_scheme_decode_as_the_argmax():
    tags = ["NOUN", "VERB", "DET"]
    start, step = allowed_transitions(tags)
    assert start.all() and step.all()
    logits = np.random.default_rng(1).normal(size=(7, 3))
    assert viterbi(log_softmax(logits), start, step) == logits.argmax(axis=1).tolist()
    assert decode_tags(np.zeros((0, 3)), tags) == []


def test_entity_metrics_match_seqeval_on_random_tag_sequences():
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    from models.tasks.token_classifier import entity_metrics

    rng = np.random.default_rng(7)
    tags = [*TAGS, "B-org", "I-org"]
    for _ in range(50):
        lengths = rng.integers(1, 12, size=int(rng.integers(1, 8)))
        gold = [[tags[k] for k in rng.choice(len(tags), n, p=[0.6] + [0.4 / 6] * 6)] for n in lengths]
        # Predictions near the gold ones, invalid I- sequences included (seqeval's default reads them too).
        predicted = [[t if rng.random() < 0.7 else tags[rng.integers(len(tags))] for t in s] for s in gold]
        ours = entity_metrics(gold, predicted)
        assert ours["entity_precision"] == pytest.approx(precision_score(gold, predicted, zero_division=0))
        assert ours["entity_recall"] == pytest.approx(recall_score(gold, predicted, zero_division=0))
        assert ours["entity_f1"] == pytest.approx(f1_score(gold, predicted, zero_division=0))
        theirs = classification_report(gold, predicted, output_dict=True, zero_division=0)
        for kind, scores in ours["per_type"].items():
            if scores["support"]:
                assert scores["f1"] == pytest.approx(theirs[kind]["f1-score"]), kind


def test_crf_decoding_never_emits_an_invalid_sequence_and_maximises_the_shifted_marginals():
    from data.bio_decoding import ChainDecoding, chain_log_marginals

    rng = np.random.default_rng(1)
    for _ in range(200):
        words = int(rng.integers(1, 6))
        emissions = rng.normal(0, 3, size=(words, len(TAGS)))
        emissions[:, 3:] += 2.0
        chain = ChainDecoding(rng.normal(0, 2, size=(len(TAGS), len(TAGS))), float(rng.uniform(0, 3)))
        decoded = decode_tags(emissions, TAGS, chain)
        assert len(decoded) == words and valid(decoded), decoded
        shifted = chain_log_marginals(emissions, chain.transitions)
        shifted[:, TAGS.index("O")] -= chain.outside_bias
        score = sum(shifted[w, TAGS.index(t)] for w, t in enumerate(decoded))
        assert score == pytest.approx(brute_force(shifted, TAGS))
        assert ChainDecoding.from_json(chain.to_json()).outside_bias == chain.outside_bias
