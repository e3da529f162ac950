"""CRFsuite fits of a linear-chain CRF over word-feature windows, each fit a job on its own core (joblib).

Its own light module (numpy and python-crfsuite only): each worker process imports it, and must not start
TensorFlow for a CRF fit. A worker receives the packed id rows (joblib shares large arrays without copying
them per job), builds its sentences' attributes itself, and returns the fit as dense tables in the layout
of models.architecture.crf: ``[vocab, offsets, tags]`` state weights, ``[tags]`` bias, ``[tags, tags]``
transitions. python-crfsuite is kept over our own L-BFGS: it is the trainer of the CRF peer, well kept, and
finds the elastic-net fit in seconds where gradient descent would need a schedule per data set.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BIAS = "b"  # the attribute every word has: its weights are the tags' bias
PAD = 0  # the data contract's PAD id (data.special_tokens)


@dataclass(frozen=True)
class Windows:
    """What a worker needs to build attributes: id rows ``[N, seq]``, word-first ``weights [N, seq]``, tag
    ids ``labels [N, seq]``, ``allowed [offsets, vocab]`` (may id t score a word at offset o), the offsets
    (in words) and the ids per word."""

    ids: np.ndarray
    weights: np.ndarray
    labels: np.ndarray
    allowed: np.ndarray
    offsets: tuple[int, ...]
    tokens_per_word: int


@dataclass(frozen=True)
class ChainFit:
    """One fit: state weights ``[vocab, offsets, tags]``, ``bias [tags]``, ``transitions [tags, tags]``."""

    state: np.ndarray
    bias: np.ndarray
    transitions: np.ndarray


def window_ids(w: Windows, row: int) -> np.ndarray:
    """``[words, offsets, tokens_per_word]``: for each word of the row (at its first id), the ids of the
    word ``d`` words away, for each offset d (PAD past either end of the row)."""
    g = w.tokens_per_word
    reach = max(abs(d) for d in w.offsets) * g
    padded = np.pad(w.ids[row], (reach, reach + g), constant_values=PAD)
    firsts = np.flatnonzero(w.weights[row] > 0)
    starts = reach + firsts[:, None] + np.asarray(w.offsets)[None, :] * g  # [words, offsets]
    return padded[starts[:, :, None] + np.arange(g)[None, None, :]]


def attributes(w: Windows, row: int) -> list[list[str]]:
    """The row's words as CRFsuite attribute lists: ``"d:id"`` for each allowed id at offset d, plus BIAS."""
    window = window_ids(w, row)
    keep = w.allowed[np.arange(len(w.offsets))[None, :, None], window]
    names = [f"{d}:" for d in w.offsets]
    return [
        [BIAS] + [names[o] + str(word[o, j]) for o, j in zip(*np.nonzero(mask), strict=True)]
        for word, mask in zip(window, keep, strict=True)
    ]


def emissions(w: Windows, row: int, fit: ChainFit) -> np.ndarray:
    """The row's words' tag scores ``[words, tags]``: what the Keras model computes from the same ids."""
    window = window_ids(w, row)
    rows = fit.state[window, np.arange(len(w.offsets))[None, :, None]]  # [words, offsets, g, tags]
    return rows.sum(axis=(1, 2)) + fit.bias


def fit_chains(
    w: Windows, jobs: Sequence[tuple[Sequence[int], float, float]], num_tags: int, max_iterations: int
) -> list[ChainFit]:
    """One CRF per job ``(training rows, c1, c2)``, jobs spread over the cores."""
    import joblib

    return joblib.Parallel(n_jobs=min(len(jobs), os.cpu_count() or 1))(
        joblib.delayed(fit_chain)(w, rows, c1, c2, num_tags, max_iterations) for rows, c1, c2 in jobs
    )


def fit_chain(
    w: Windows, rows: Sequence[int], c1: float, c2: float, num_tags: int, max_iterations: int
) -> ChainFit:
    """CRFsuite L-BFGS with L1 ``c1`` and L2 ``c2`` on these rows; the weights as dense tables."""
    import pycrfsuite

    trainer = pycrfsuite.Trainer(verbose=False)
    seen: set[int] = set()
    for row in rows:
        tags = w.labels[row][w.weights[row] > 0].tolist()
        seen.update(tags)
        trainer.append(attributes(w, row), [str(t) for t in tags])
    trainer.set_params({"c1": c1, "c2": c2, "max_iterations": max_iterations})
    with tempfile.TemporaryDirectory(prefix="textlab-crf-") as folder:
        path = str(Path(folder, "model.crfsuite"))
        trainer.train(path)
        tagger = pycrfsuite.Tagger()
        tagger.open(path)
        info = tagger.info()
        tagger.close()
    state = np.zeros((w.allowed.shape[1], len(w.offsets), num_tags), np.float32)
    # A tag never seen in training is never predicted (CRFsuite has no weights for it).
    bias = np.array([0.0 if k in seen else -1e4 for k in range(num_tags)], np.float32)
    for (attribute, label), value in info.state_features.items():
        if attribute == BIAS:
            bias[int(label)] = value
        else:
            d, token = attribute.split(":")
            state[int(token), w.offsets.index(int(d)), int(label)] = value
    transitions = np.zeros((num_tags, num_tags), np.float32)
    for (first, then), value in info.transitions.items():
        transitions[int(first), int(then)] = value
    return ChainFit(state, bias, transitions)
