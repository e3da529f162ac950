"""Fit the linear kind in closed form: TF-IDF features of the run's own token ids, liblinear, C on validation.

Gradient descent is the wrong tool for this model: Adam's per-coordinate steps over-weight the rare n-grams
and SGD needs step sizes tuned per data set (both measured in BENCHMARKS.md), where the convex solver finds
the small-norm fit in seconds. The features are computed here from the same packed id rows the model reads,
by the same formula as models.architecture.linear.TfidfWeights, so the fitted Keras model reproduces
scikit-learn's decisions exactly (a test checks it) and exports like any other kind.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from data.special_tokens import NUM_SPECIAL_TOKENS, PAD
from data.tokenizers.ngrams import count_of
from models.architecture.backbone import TOKEN_EMBEDDING_NAME
from models.architecture.builders import get_backbone
from models.architecture.linear import WEIGHTS_NAME
from models.engine.liblinear_grid import fit_grid
from models.tasks.label_metrics import classification_metrics
from models.tasks.tfidf_baseline import C_GRID


def token_tables(tokenizer: Any, train_ids: np.ndarray) -> dict[str, np.ndarray]:
    """idf (smoothed, from the training rows: ln((1 + n) / (1 + df)) + 1, as scikit-learn's), tf_weight
    (1 + ln c for the count token [x c]) and block (1 for the subword block) per token id."""
    vocab = tokenizer.vocabulary
    size = len(vocab)
    # Another tokenizer's ids are one block, every id past the specials a feature.
    starts = tokenizer.block_starts() if hasattr(tokenizer, "block_starts") else (NUM_SPECIAL_TOKENS, size)
    counts = np.asarray([count_of(token) for token in vocab], dtype=np.float64)
    tf_weight = np.where(counts > 1, 1.0 + np.log(counts), 1.0)
    block = np.zeros(size)
    block[starts[1] :] = 1.0
    df = np.zeros(size)
    for i in range(0, len(train_ids), 2048):  # each n-gram appears once per row: count rows per id
        rows = train_ids[i : i + 2048].astype(np.int64)
        present = np.unique(rows + size * np.arange(len(rows))[:, None]) % size
        df += np.bincount(present, minlength=size)
    idf = np.log((1.0 + len(train_ids)) / (1.0 + df)) + 1.0
    idf[: starts[0]] = 0.0  # specials and count tokens are not features
    return {"idf": idf, "tf_weight": tf_weight, "block": block}


def tfidf_matrix(ids: np.ndarray, tables: dict[str, np.ndarray], chunk: int = 2048) -> Any:
    """[rows, seq] token ids -> scipy CSR [rows, vocab] of TfidfWeights' x_i, summed per token id (computed
    ``chunk`` rows at a time: the dense intermediates are rows x seq floats)."""
    from scipy.sparse import vstack

    return vstack(
        [_tfidf_rows(ids[i : i + chunk], tables) for i in range(0, max(1, len(ids)), chunk)]
    ).tocsr()


def _tfidf_rows(ids: np.ndarray, tables: dict[str, np.ndarray]) -> Any:
    from scipy.sparse import csr_matrix

    ids = ids.astype(np.int64)
    following = np.pad(ids[:, 1:], ((0, 0), (0, 1)), constant_values=PAD)
    values = tables["idf"][ids] * tables["tf_weight"][following]
    sub = tables["block"][ids]
    squares = values * values
    sub_norm = np.sqrt((squares * sub).sum(axis=1, keepdims=True))
    first_norm = np.sqrt((squares * (1.0 - sub)).sum(axis=1, keepdims=True))
    x = values / np.maximum(sub * sub_norm + (1.0 - sub) * first_norm, 1e-12)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    matrix = csr_matrix((x.ravel(), (rows, ids.ravel())), shape=(len(ids), len(tables["idf"])))
    matrix.eliminate_zeros()
    return matrix


def fit_linear(model: Any, prepared: Any, balanced: bool = False) -> dict[str, Any]:
    """Fit the model's weights on the training split (a distilled student: on its ``soft_train`` targets),
    C picked by validation macro-F1; returns the fit's record (its loss and accuracy on the training and
    validation rows, C, validation macro-F1, features, seconds). ``balanced``: each binary fit weighs its two
    sides by their inverse frequency."""
    started = time.perf_counter()
    (train_x, train_y), labels = prepared.train_arrays[:2], prepared.labels
    tables = token_tables(prepared.tokenizer, train_x)
    x_train = tfidf_matrix(train_x, tables)
    soft = getattr(prepared, "soft_train", None)  # a distilled student's: (ids, target probabilities)
    x_fit = tfidf_matrix(soft[0], tables) if soft is not None else x_train
    choose_x, choose_y = prepared.val_arrays[:2] if prepared.val_arrays is not None else (train_x, train_y)
    if not len(choose_x):  # no validation rows: pick C on the training split
        choose_x, choose_y = train_x, train_y
    x_choose = tfidf_matrix(choose_x, tables)
    fits = fit_grid(
        x_fit, train_y, len(labels), C_GRID, balanced=balanced, soft=None if soft is None else soft[1]
    )
    chosen = [_scores(x_choose, choose_y, kernel, bias, labels) for kernel, bias in fits]
    best = int(np.argmax([c["macro_f1"] for c in chosen]))  # the first best C wins a tie
    kernel, bias = fits[best]
    _set_weights(model, tables, kernel, bias)
    scores = {k: v for k, v in _scores(x_train, train_y, kernel, bias, labels).items() if k != "macro_f1"}
    if prepared.val_arrays is not None and len(prepared.val_arrays[0]):
        scores.update(val_loss=chosen[best]["loss"], val_accuracy=chosen[best]["accuracy"])
    return {
        "scores": scores,
        "C": C_GRID[best],
        "val_macro_f1": chosen[best]["macro_f1"],
        "features": int((tables["idf"] > 0).sum()),
        "fit_s": round(time.perf_counter() - started, 3),
    }


def _scores(
    x: Any, y: np.ndarray, kernel: np.ndarray, bias: np.ndarray, labels: list[str]
) -> dict[str, float]:
    """The model's mean cross-entropy, accuracy and macro-F1 on these rows, from the features (what the
    Keras model computes from the ids)."""
    logits = np.asarray(x @ kernel) + bias
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    metrics = classification_metrics(y, logits.argmax(axis=1), labels)
    return {
        "loss": float(-log_probs[np.arange(len(y)), y].mean()),
        "accuracy": float(metrics["accuracy"]),
        "macro_f1": float(metrics["macro_f1"]),
    }


def _set_weights(model: Any, tables: dict[str, np.ndarray], kernel: np.ndarray, bias: np.ndarray) -> None:
    backbone = get_backbone(model)
    backbone.get_layer(TOKEN_EMBEDDING_NAME).embeddings.assign(kernel.astype("float32"))
    weights = backbone.get_layer(WEIGHTS_NAME)
    for name in ("idf", "tf_weight", "block"):
        getattr(weights, name).assign(tables[name].astype("float32"))
    head = model.get_layer("logits")
    head.kernel.assign(np.eye(len(bias), dtype="float32"))
    head.bias.assign(bias.astype("float32"))
