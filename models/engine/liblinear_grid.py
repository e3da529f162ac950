"""Logistic regressions over a grid of C, every binary fit a job on its own core (joblib processes).

Its own light module (numpy and scikit-learn only): each worker process imports it, and must not start
TensorFlow for a liblinear fit. Threads do not help here (measured: two threads were slower than one on the
43-class fortunes split), as scikit-learn holds the GIL while it prepares each fit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np


def fit_grid(
    x: Any,
    y: np.ndarray,
    classes: int,
    grid: Sequence[float],
    balanced: bool = False,
    soft: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each C in ``grid``: ([features, classes] weights, [classes] biases) of liblinear logistic
    regression, one-vs-rest past two classes (scikit-learn's OneVsRestClassifier, fit by fit); a binary
    problem's one decision value is class 1's (class 0 stays at 0), so the argmax is the fit's prediction.

    ``soft``: [rows, classes] target probabilities (a teacher's) instead of the labels ``y``: each binary fit
    then minimises the logistic loss against class k's probability q (every row twice, as a positive of
    weight q and a negative of weight 1 - q: the cross-entropy with a soft target, still convex)."""
    import joblib

    columns = [1] if classes == 2 else list(range(classes))
    jobs = [(c, k) for c in grid for k in columns]
    if soft is not None:
        calls = [joblib.delayed(_soft_binary)(c, x, soft[:, k]) for c, k in jobs]
    else:
        calls = [joblib.delayed(_binary)(c, x, (y == k).astype(np.int32), balanced) for c, k in jobs]
    fits = joblib.Parallel(n_jobs=min(len(jobs), os.cpu_count() or 1))(calls)
    out = []
    for c in grid:
        kernel, bias = np.zeros((x.shape[1], classes)), np.zeros(classes)
        if classes > 2:
            bias[:] = -1e4  # a class absent from the training split is never predicted
        for (fit_c, k), (coef, intercept) in zip(jobs, fits, strict=True):
            if fit_c == c:
                kernel[:, k], bias[k] = coef, intercept
        out.append((kernel, bias))
    return out


def _binary(c: float, x: Any, target: np.ndarray, balanced: bool = False) -> tuple[np.ndarray, float]:
    """One liblinear fit of ``target`` (0/1): its weights and intercept (all zero when one value only)."""
    from sklearn.linear_model import LogisticRegression

    if target.min() == target.max():
        return np.zeros(x.shape[1]), (1e4 if target[0] else -1e4)
    weight = "balanced" if balanced else None
    model = LogisticRegression(C=c, solver="liblinear", class_weight=weight).fit(x, target)
    return model.coef_[0], float(model.intercept_[0])


def _soft_binary(c: float, x: Any, q: np.ndarray) -> tuple[np.ndarray, float]:
    """One liblinear fit of the soft target ``q`` (probabilities of the positive side): each row a positive
    of weight q and a negative of weight 1 - q (rows of weight 0 left out)."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    pos, neg = np.flatnonzero(q > 0), np.flatnonzero(q < 1)
    if not len(pos) or not len(neg):
        return np.zeros(x.shape[1]), (1e4 if len(pos) else -1e4)
    stacked = sparse.vstack([x[pos], x[neg]]).tocsr() if sparse.issparse(x) else np.vstack([x[pos], x[neg]])
    target = np.concatenate([np.ones(len(pos), np.int32), np.zeros(len(neg), np.int32)])
    weight = np.concatenate([q[pos], 1.0 - q[neg]])
    model = LogisticRegression(C=c, solver="liblinear").fit(stacked, target, sample_weight=weight)
    return model.coef_[0], float(model.intercept_[0])
