"""BIO-consistent tag decoding: the most probable tag sequence in which ``I-x`` only continues ``B-x``/``I-x``.

A per-word argmax can emit ``O I-person`` or ``B-geo-loc I-person``, which seqeval reads as entities nobody
predicted as such. Viterbi over the per-word log-probabilities with those transitions forbidden gives the best
sequence that is valid (Lample et al. 2016 learn the transitions with a CRF; the hard constraint alone is
what keeps the output well formed, and needs no weights). Plain numpy: the exported bundle's reference runner
(models/export/run_bundle.py) decodes with it too, so a phone app ports the same loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from data.conll import OUTSIDE


def allowed_transitions(tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(start [K], step [K, K])`` booleans: may a sentence start with tag k; may tag j follow tag i.

    Only ``I-x`` is restricted (it must follow ``B-x`` or ``I-x``); tags outside the BIO scheme (POS tags, a
    bare ``PER``) may go anywhere, so a non-BIO tag set decodes as a plain argmax."""
    kinds = [tag[2:] if tag[:2] in ("B-", "I-") else None for tag in tags]
    inside = np.array([tag.startswith("I-") for tag in tags])
    start = ~inside
    step = np.ones((len(tags), len(tags)), dtype=bool)
    for j in np.flatnonzero(inside):
        step[:, j] = [kinds[i] == kinds[j] and kinds[i] is not None for i in range(len(tags))]
    return start, step


def viterbi(log_probs: np.ndarray, start: np.ndarray, step: np.ndarray) -> list[int]:
    """The highest-scoring tag index sequence for ``log_probs [words, K]`` that uses only allowed moves."""
    words = len(log_probs)
    if words == 0:
        return []
    banned = np.float64(-1e30)  # finite, so a row with every move banned still has an argmax
    moves = np.where(step, 0.0, banned)
    score = np.where(start, log_probs[0], banned)
    back = np.zeros((words, log_probs.shape[1]), dtype=np.int64)
    for w in range(1, words):
        total = score[:, None] + moves  # [from, to]
        back[w] = total.argmax(axis=0)
        score = total.max(axis=0) + log_probs[w]
    path = [int(score.argmax())]
    for w in range(words - 1, 0, -1):
        path.append(int(back[w, path[-1]]))
    return path[::-1]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class ChainDecoding:
    """A linear-chain CRF's decoding: ``transitions [K, K]`` (score of tag j right after tag i) and
    ``outside_bias`` (subtracted from the O tag's log-marginal before decoding: a CRF trained on few
    sentences under-predicts entities in new text, and the fit picks the shift by cross-validation)."""

    transitions: np.ndarray
    outside_bias: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "transitions": np.asarray(self.transitions).tolist(),
            "outside_bias": float(self.outside_bias),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChainDecoding:
        return cls(np.asarray(data["transitions"], np.float64), float(data.get("outside_bias", 0.0)))


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    top = x.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.exp(x - top).sum(axis=axis))


def chain_log_marginals(emissions: np.ndarray, transitions: np.ndarray) -> np.ndarray:
    """``log P(tag_w = k | sentence)`` ``[words, K]`` of a linear-chain CRF (forward-backward) whose
    sequence score is the sum of ``emissions[w, tag_w]`` and ``transitions[tag_w-1, tag_w]``."""
    words = len(emissions)
    alpha = np.zeros_like(emissions)
    beta = np.zeros_like(emissions)
    alpha[0] = emissions[0]
    for w in range(1, words):
        alpha[w] = emissions[w] + _logsumexp(alpha[w - 1][:, None] + transitions, axis=0)
    for w in range(words - 2, -1, -1):
        beta[w] = _logsumexp(transitions + (emissions[w + 1] + beta[w + 1])[None, :], axis=1)
    total = _logsumexp(alpha[-1], axis=0)
    return alpha + beta - total


def decode_tags(
    word_logits: np.ndarray, tags: Sequence[str], chain: ChainDecoding | None = None
) -> list[str]:
    """Per-word scores ``[words, K]`` -> the best BIO-valid tag sequence, as tag names.

    Without ``chain`` the scores are a per-word classifier's logits (log-softmax, then Viterbi); with it they
    are a CRF's emissions: each word's tag log-marginal (forward-backward over the learnt transitions), the O
    tag's shifted by ``outside_bias``, then the same BIO-constrained Viterbi over those."""
    scores = np.asarray(word_logits, np.float64)
    if not len(scores):
        return []
    if chain is None:
        return decode_log_probs(log_softmax(scores), tags)
    marginals = chain_log_marginals(scores, np.asarray(chain.transitions, np.float64))
    return decode_log_probs(marginals, tags, chain.outside_bias)


def decode_log_probs(log_probs: np.ndarray, tags: Sequence[str], outside_bias: float = 0.0) -> list[str]:
    """Per-word tag log-probabilities ``[words, K]`` -> the best BIO-valid tags, O's shifted by
    ``-outside_bias`` first."""
    if outside_bias and OUTSIDE in tags:
        log_probs = log_probs.copy()
        log_probs[:, list(tags).index(OUTSIDE)] -= outside_bias
    start, step = allowed_transitions(tags)
    return [tags[k] for k in viterbi(log_probs, start, step)]
