"""BIO-consistent tag decoding: the most probable tag sequence in which ``I-x`` only continues ``B-x``/``I-x``.

A per-word argmax can emit ``O I-person`` or ``B-geo-loc I-person``, which seqeval reads as entities nobody
predicted as such. Viterbi over the per-word log-probabilities with those transitions forbidden gives the best
sequence that is valid (Lample et al. 2016 learn the transitions with a CRF; the hard constraint alone is
what keeps the output well formed, and needs no weights). Plain numpy: the exported bundle's reference runner
(models/export/run_bundle.py) decodes with it too, so a phone app ports the same loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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


def decode_tags(word_logits: np.ndarray, tags: Sequence[str]) -> list[str]:
    """Per-word logits ``[words, K]`` -> the best BIO-valid tag sequence, as tag names."""
    start, step = allowed_transitions(tags)
    return [tags[k] for k in viterbi(log_softmax(np.asarray(word_logits, np.float64)), start, step)]
