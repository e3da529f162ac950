"""Fit the CRF kind: CRFsuite on word-feature windows; regularisation and the O shift by cross-validation.

A CRF fitted on a few thousand sentences knows its training words too well: on new text it finds entities
with high precision and low recall (BENCHMARKS.md, "Named-entity tagging"). Decoding from the tag marginals
with the O tag's log-probability lowered by a shift trades the two; the shift, like CRFsuite's L1/L2
strengths, is picked by entity F1 over 3-fold cross-validation on the training sentences, whose thousands
of entities judge it far more steadily than the validation split's hundred or two. The fitted tables are
written into the Keras model (models.architecture.crf), which then reproduces the fit's scores exactly.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from data.bio_decoding import chain_log_marginals, decode_log_probs
from data.errors import DataError
from data.special_tokens import BOS
from data.tokenizers.word_features import WordFeatureTokenizer
from models.architecture.backbone import TOKEN_EMBEDDING_NAME
from models.architecture.builders import get_backbone
from models.architecture.crf import CHAIN_NAME, OFFSETS
from models.engine.crfsuite_grid import ChainFit, Windows, emissions, fit_chains
from models.tasks.token_classifier import entity_metrics

C_GRID = ((0.05, 0.05), (0.1, 0.1))  # CRFsuite's (L1, L2) strengths tried
OUTSIDE_BIASES = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
FOLDS = 3
MAX_ITERATIONS = 100  # L-BFGS iterations, as the sklearn-crfsuite peer
# The slots of a neighbour that score a word's tag (the word's own: all): next to it, its form, shape,
# 3-letter suffix and pair with its next word; two away, its form, shape and pair (so a character reads the
# pairs c-2c-1 ... c2c3 around it, the bigram template of Chinese CRF taggers: msra_chinese's main split 0.741 ->
# 0.7455, the peer's, means unchanged; BENCHMARKS.md). [BOS] scores the first two words (a sentence start).
NEIGHBOUR_SLOTS = {1: ("w", "x", "s", "b"), 2: ("w", "x", "b")}


def allowed_ids(tokenizer: WordFeatureTokenizer) -> np.ndarray:
    """``[offsets, vocab]``: may this id score a word at this offset (its slot is read there)."""
    vocab = tokenizer.vocabulary
    slots = [token.split(":", 1)[0] if ":" in token else None for token in vocab]
    allowed = np.zeros((len(OFFSETS), len(vocab)), dtype=bool)
    for o, d in enumerate(OFFSETS):
        read = set(tokenizer.slots) if d == 0 else set(NEIGHBOUR_SLOTS[abs(d)])
        allowed[o] = [slot in read and slot in tokenizer.slots for slot in slots]
        allowed[o, BOS] = d < 0
    return allowed


def fit_crf(model: Any, prepared: Any) -> dict[str, Any]:
    """Fit the model's weights on the training split, (c1, c2) and the O shift picked by cross-validated
    entity F1; returns the fit's record (scores on the training and validation sentences, the choices)."""
    started = time.perf_counter()
    tokenizer, labels = prepared.tokenizer, prepared.labels
    if not isinstance(tokenizer, WordFeatureTokenizer):
        raise DataError(
            f"the CRF reads word features; this run's tokenizer is {tokenizer.kind!r}.",
            hint="Use the word_features tokenizer with the CRF (the tagger recipe does), or another model kind.",
        )
    ids, tag_ids, weights = prepared.train_arrays
    windows = Windows(ids, weights, tag_ids, allowed_ids(tokenizer), OFFSETS, len(tokenizer.slots))
    n = len(ids)
    folds = [list(range(f, n, FOLDS)) for f in range(FOLDS)] if n >= 2 * FOLDS else []
    everything = list(range(n))
    jobs = [(sorted(set(everything) - set(fold)), c1, c2) for c1, c2 in C_GRID for fold in folds]
    jobs += [(everything, c1, c2) for c1, c2 in C_GRID]
    fits = fit_chains(windows, jobs, len(labels), MAX_ITERATIONS)
    held_out = fits[: len(C_GRID) * len(folds)]
    finals = fits[len(C_GRID) * len(folds) :]
    if folds:
        gold = [_gold(windows, row, labels) for fold in folds for row in fold]
        table = [
            _f1_by_bias(
                windows,
                [(row, fit) for fold, fit in zip(folds, fold_fits, strict=True) for row in fold],
                gold,
                labels,
            )
            for fold_fits in (held_out[c * len(folds) : (c + 1) * len(folds)] for c in range(len(C_GRID)))
        ]
    else:  # too few sentences to fold: judge the full fits on the training sentences themselves
        gold = [_gold(windows, row, labels) for row in everything]
        table = [_f1_by_bias(windows, [(row, fit) for row in everything], gold, labels) for fit in finals]
    c, b = np.unravel_index(int(np.argmax(table)), np.shape(table))  # the first best wins a tie
    chosen, bias = finals[c], OUTSIDE_BIASES[b]
    _set_weights(model, chosen, bias)
    record = _scores(windows, chosen, bias, labels, "")
    if prepared.val_arrays is not None and len(prepared.val_arrays[0]):
        val = Windows(*_packed(prepared.val_arrays), windows.allowed, OFFSETS, windows.tokens_per_word)
        record.update(_scores(val, chosen, bias, labels, "val_"))
    return {
        "scores": record,
        "c1": C_GRID[c][0],
        "c2": C_GRID[c][1],
        "outside_bias": bias,
        "cv_entity_f1": float(table[c][b]),
        "features": int(np.count_nonzero(np.abs(chosen.state).sum(axis=2))),
        "fit_s": round(time.perf_counter() - started, 3),
    }


def _packed(arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, tag ids, weights) -> Windows' field order (ids, weights, tag ids)."""
    ids, tag_ids, weights = arrays
    return ids, weights, tag_ids


def _gold(w: Windows, row: int, labels: list[str]) -> list[str]:
    return [labels[t] for t in w.labels[row][w.weights[row] > 0]]


def _f1_by_bias(
    w: Windows, scored: list[tuple[int, ChainFit]], gold: list[list[str]], labels: list[str]
) -> list[float]:
    """Entity F1 of the rows (each decoded by its own fit) at every O shift of OUTSIDE_BIASES."""
    marginals = [chain_log_marginals(emissions(w, row, fit), fit.transitions) for row, fit in scored]
    return [
        entity_metrics(gold, [decode_log_probs(m, labels, bias) for m in marginals])["entity_f1"]
        for bias in OUTSIDE_BIASES
    ]


def _scores(w: Windows, fit: ChainFit, bias: float, labels: list[str], prefix: str) -> dict[str, float]:
    """Mean per-word negative log-marginal of the gold tag (the loss), word accuracy and entity F1."""
    gold, predicted, nll, words = [], [], 0.0, 0
    for row in range(len(w.ids)):
        marginals = chain_log_marginals(emissions(w, row, fit), fit.transitions)
        truth = w.labels[row][w.weights[row] > 0]
        nll -= float(marginals[np.arange(len(truth)), truth].sum())
        words += len(truth)
        gold.append([labels[t] for t in truth])
        predicted.append(decode_log_probs(marginals, labels, bias))
    metrics = entity_metrics(gold, predicted)
    return {
        f"{prefix}loss": nll / max(words, 1),
        f"{prefix}accuracy": metrics["word_accuracy"],
        f"{prefix}entity_f1": metrics["entity_f1"],
    }


def _set_weights(model: Any, fit: ChainFit, bias: float) -> None:
    backbone = get_backbone(model)
    vocab, offsets, tags = fit.state.shape
    backbone.get_layer(TOKEN_EMBEDDING_NAME).embeddings.assign(fit.state.reshape(vocab, offsets * tags))
    chain = backbone.get_layer(CHAIN_NAME)
    chain.transitions.assign(fit.transitions)
    chain.outside_bias.assign(np.float32(bias))
    head = model.get_layer("logits")
    head.kernel.assign(np.eye(tags, dtype="float32"))
    head.bias.assign(fit.bias)
