"""The recipes chosen from the data (classifiers, token taggers and causal language models): tokenizer, model,
sequence length and optimisation, each with the reason it was chosen (saved in config.json as ``recipe``; any
explicit setting overrides its choice)."""

from __future__ import annotations

import functools
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data.config import WORD_SLOTS
from data.conll import load_conll
from data.errors import DataError
from data.loaders import load_dataset
from data.textshape import chars_per_token, is_unspaced
from data.tokenizers.ngrams import ngram_positions
from data.tokenizers.word_features import SLOTS as CRF_WORD_SLOTS
from models import tasks
from models.config import RunConfig
from models.engine.lm_recipe import PIECES_PER_WORD, lm_choices

WORDPIECE_VOCAB = 8000
SEQ_LEN_RANGE = (16, 256)
# The recipe's model: the linear TF-IDF kind, fitted in closed form (BENCHMARKS.md, "The default classifier
# recipe ..."); a user who picks the bag gets the bag's measured settings ("The n-gram bag classifier ...").
LINEAR_MODEL = {"kind": "linear", "preset": "tiny"}  # one size: the preset changes nothing (and the
# Train tab keeps the engine's smallest size if the user then picks another kind)
NEURAL_MODEL = {"kind": "bag", "preset": "small"}
# The hashed bag reads the linear kind's n-grams (BENCHMARKS.md, "Distillation ...").
HASHED_MODEL = {"kind": "hashed", "preset": "small"}
# The linear model reads every n-gram of a text it can: cut at the 99th percentile, up to 4096 positions.
LINEAR_SEQ_LEN_RANGE = (16, 4096)
LINEAR_PERCENTILE = 99
IMBALANCE_RATIO = 3  # the largest class this many times the smallest: the recipe says how it copes
OPTIMISER = {"epochs": 30, "early_stopping_patience": 3}
# Learning rate by model kind: the bag's from its benchmark; the others keep the engine's default, the one
# their measured settings used (a user who picks the Transformer or the LSTM still gets the rest of the recipe).
LEARNING_RATES = {"bag": 3e-3, "transformer": 1e-3, "lstm": 1e-3, "crf": 1e-3}  # crf: reaches the refusal
LEARNING_RATES["hashed"] = 1e-2  # fastText-like: one table and a head, rows updated sparsely
# The tagger's model: the CRF on word features (BENCHMARKS.md, "Named-entity tagging ..."), fitted once; a
# user who picks a neural kind gets the best of the settings measured for it, and the engine's default rate
# for the other kinds, as for classifiers.
CRF_MODEL = {"kind": "crf", "preset": "tiny"}  # one size, as the linear kind
CRF_SEQ_LEN_RANGE = (16, 4096)
TAGGER_MODEL = {"kind": "lstm", "preset": "small", "bidirectional": True}
# "linear" too, so a tagger asked to be linear reaches the builder's clear refusal instead of a KeyError.
TAGGER_LEARNING_RATES = {"lstm": 3e-3, "transformer": 1e-3, "bag": 3e-3, "linear": 3e-3, "hashed": 3e-3}
# Word features rarer than this become their slot's unknown, so training meets unknown words as the test
# does; vocab_size is only a ceiling (a large corpus keeps its most frequent values).
TAGGER_FEATURES = {"min_frequency": 2, "vocab_size": 50_000}
# Words that are single characters (a Chinese or Japanese CoNLL file, one character per line): prefix and
# suffix would repeat the form, and 4 tokens per character would make sentences needlessly long; the pair
# with the next character (a bigram) is what Chinese NER taggers read first (0.699 -> 0.741 on msra_chinese).
CHARACTER_WORD_SLOTS = ("w", "x", "b")
# A tagger cuts words past seq_len (they count as O), so it may read longer sequences than a classifier.
TAGGER_SEQ_LEN_RANGE = (16, 512)
# Settings the recipe may choose: a user's own value for any one of them wins (CLI flag or edited Train field).
RECIPE_KEYS = (
    "tokenizer",
    "vocab_size",
    "min_frequency",
    "word_slots",
    "seq_len",
    "kind",
    "preset",
    "bidirectional",
    "batch_size",
    "learning_rate",
    "epochs",
    "dropout",
)
# Tasks with a recipe, by interface, and what the refusal calls them.
RECIPE_INTERFACES = {
    tasks.CLASSIFY: "classifiers",
    tasks.TAG: "token taggers",
    tasks.GENERATE: "language models",
}


@dataclass
class Recipe:
    """Settings by RunConfig OVERRIDES key, and one reason per decision."""

    settings: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def apply(self, config: RunConfig, keep: set[str] | frozenset[str] = frozenset()) -> RunConfig:
        """Write the choices into ``config`` except the settings named in ``keep`` (the user's own)."""
        config.apply_overrides({k: v for k, v in self.settings.items() if k not in keep})
        kept = sorted(keep & (set(self.settings) | set(RECIPE_KEYS)))
        config.recipe = list(self.reasons) + ([f"kept your own {', '.join(kept)}"] if kept else [])
        return config

    def choose_seq_len(
        self,
        lengths: np.ndarray,
        what: str,
        unit: str,
        bounds: tuple[int, int] = SEQ_LEN_RANGE,
        percentile: int = 95,
    ) -> None:
        """seq_len at the ``percentile`` of ``lengths`` (tokens per example), within ``bounds``."""
        at = float(np.percentile(lengths, percentile)) if len(lengths) else bounds[0]
        seq_len = int(min(bounds[1], max(bounds[0], round(at))))
        covered = float((lengths <= seq_len).mean()) if len(lengths) else 1.0
        self.settings["seq_len"] = seq_len
        self.reasons.append(
            f"seq_len {seq_len} covers {covered:.0%} of {what} ({percentile}th percentile {at:.0f} {unit})"
        )

    def choose_optimiser(
        self, train_rows: int, lr: float, what: str, judged: str = "validation loss"
    ) -> None:
        """Batch by data size, AdamW at ``lr``, early stopping on ``judged`` (the task's TaskSpec.select_by,
        else the validation loss) with the best epoch kept."""
        batch = 32 if train_rows >= 320 else 16
        self.settings.update(batch_size=batch, learning_rate=lr, **OPTIMISER)
        self.reasons.append(
            f"batch {batch}, AdamW lr {lr:g}, up to {OPTIMISER['epochs']} epochs with early "
            f"stopping after {OPTIMISER['early_stopping_patience']} without a better {judged}; the best "
            f"epoch is kept ({train_rows} training {what})"
        )


def classifier_recipe(
    texts: list[str],
    train_rows: int,
    kind: str | None = None,
    tokenizer: str | None = None,
    labels: list[str] | None = None,
) -> Recipe:
    """Choose from the texts (a sample is enough), the number of training rows and the labels; ``kind`` and
    ``tokenizer``: the user's own, if any."""
    recipe = Recipe()
    if kind is None or kind == "linear":
        _linear_recipe(recipe, texts, train_rows, tokenizer)
        _imbalance(recipe, labels or [])
        return recipe
    if kind == HASHED_MODEL["kind"]:
        _ngram_features(recipe, texts, tokenizer)
        recipe.settings.update(HASHED_MODEL)
        recipe.reasons.append(
            "hashed n-gram bag, small: the linear kind's n-grams sharing the rows of a fixed table (fastText's "
            "buckets), so its size does not grow with the vocabulary"
        )
        recipe.choose_optimiser(train_rows, LEARNING_RATES[kind], "rows", judged="validation macro-F1")
        return recipe
    unspaced = is_unspaced(texts)
    per_token = chars_per_token(texts)
    if unspaced:
        lengths = np.asarray([len(t) for t in texts]) + 1  # one character each, plus [BOS]
        recipe.settings["tokenizer"] = "char"
        recipe.reasons.append(
            f"char tokenizer: the texts do not separate words with spaces (median {per_token:.0f} characters "
            "between spaces), so there are no words to learn WordPiece pieces from"
        )
        unit = "characters"
    else:
        lengths = np.asarray([len(t.split()) for t in texts]) * PIECES_PER_WORD + 2
        recipe.settings.update(tokenizer="wordpiece", vocab_size=WORDPIECE_VOCAB)
        recipe.reasons.append(
            f"WordPiece {WORDPIECE_VOCAB // 1000}k: the texts are space-separated words "
            f"(median {per_token:.1f} characters per word), learnt on the training split"
        )
        unit = "words x 1.5 pieces"
    recipe.choose_seq_len(lengths, "texts", unit)
    if kind == NEURAL_MODEL["kind"]:
        recipe.settings.update(NEURAL_MODEL)
        recipe.reasons.append(
            "n-gram bag, small: ahead of fastText on five of the six labelled sets benchmarked, in 1-2 minutes "
            "per 10,000 texts on 2 cores (BENCHMARKS.md)"
        )
    recipe.choose_optimiser(train_rows, LEARNING_RATES[kind], "rows")
    return recipe


def _imbalance(recipe: Recipe, labels: list[str]) -> None:
    """Say what imbalanced classes get: C chosen by macro-F1 (every class weighs alike), no class weights."""
    counts = Counter(labels)
    if len(counts) < 2:
        return
    (big, most), (small, fewest) = counts.most_common(1)[0], counts.most_common()[-1]
    if most >= IMBALANCE_RATIO * fewest:
        recipe.reasons.append(
            f"imbalanced classes ('{big}' {most} rows, '{small}' {fewest}): C is picked by validation macro-F1, "
            "where every class counts alike; balanced class weights scored no better (BENCHMARKS.md)"
        )


def _linear_recipe(recipe: Recipe, texts: list[str], train_rows: int, tokenizer: str | None) -> None:
    """The linear TF-IDF model on n-gram features, its seq_len from the texts' distinct n-grams."""
    _ngram_features(recipe, texts, tokenizer)
    recipe.settings.update(LINEAR_MODEL)
    recipe.reasons.append(
        "linear TF-IDF model (logistic regression fitted by liblinear, C picked on validation macro-F1): "
        "at or above TF-IDF + logistic regression on word features on every labelled set benchmarked, and "
        f"ahead of the n-gram bag on five of six, in seconds (BENCHMARKS.md); {train_rows} training rows"
    )
    batch = 32 if train_rows >= 320 else 16
    recipe.settings.update(batch_size=batch, epochs=1)  # one closed-form fit


def _ngram_features(recipe: Recipe, texts: list[str], tokenizer: str | None) -> None:
    """The n-gram tokenizer (unless the user chose another) and seq_len from the texts' distinct n-grams."""
    if tokenizer in (None, "ngrams"):
        unspaced = is_unspaced(texts)
        first = (
            "character 1-3-grams (the texts do not separate words with spaces)"
            if unspaced
            else ("word 1-2-grams")
        )
        recipe.settings["tokenizer"] = "ngrams"
        recipe.reasons.append(
            f"n-gram features: {first} and character 2-5-grams inside words, every one of the training split "
            "(the character n-grams seen in at least 2 texts)"
        )
        sample = texts[:: max(1, len(texts) // 2000)]
        lengths = np.asarray([ngram_positions(t, unspaced) for t in sample]) + 1  # + [BOS]
        recipe.choose_seq_len(
            lengths, "texts", "distinct n-grams and count tokens", LINEAR_SEQ_LEN_RANGE, LINEAR_PERCENTILE
        )
    else:  # the user's own tokenizer: its ids are the features (a repeated id counts each time)
        lengths = np.asarray(
            [len(t) if tokenizer == "char" else len(t.split()) * PIECES_PER_WORD for t in texts]
        )
        recipe.choose_seq_len(lengths + 1, "texts", "tokens", LINEAR_SEQ_LEN_RANGE, LINEAR_PERCENTILE)


def tagger_recipe(
    sentences: list[list[str]], train_rows: int, kind: str | None = None, tokenizer: str | None = None
) -> Recipe:
    """Choose a token tagger's settings from its sentences (words) and training sentence count; ``kind``
    and ``tokenizer`` are the user's own choices, if any (seq_len is then counted in that tokenizer's units).

    The CRF on word features by default; a user who picks a tokenizer other than word features, or another
    kind, gets the bidirectional LSTM's recipe (the CRF reads word features only)."""
    recipe = Recipe()
    words = np.asarray([len(ws) for ws in sentences])
    crf = kind == "crf" or (kind is None and tokenizer in (None, "word_features"))
    slots = CRF_WORD_SLOTS if crf else WORD_SLOTS
    if tokenizer is None:
        tokenizer = "word_features"
        word_chars = [len(w) for ws in sentences[:20_000] for w in ws]
        single = bool(word_chars) and float(np.median(word_chars)) <= 1
        slots = CHARACTER_WORD_SLOTS if single else slots
        recipe.settings.update(tokenizer=tokenizer, word_slots=list(slots), **TAGGER_FEATURES)
        affixes = (
            "prefixes and suffixes of 1-4 letters, shape and pair with the next word"
            if crf
            else "3-letter prefix and suffix and shape"
        )
        what = (
            "the words are single characters (median 1): each one's form, shape and pair with the next"
            if single
            else f"each word's form, {affixes}"
        )
        recipe.reasons.append(
            f"word features: {what} as {len(slots)} tokens, values seen at least "
            f"{TAGGER_FEATURES['min_frequency']} times (so training meets unknown words as new text does)"
        )
    if tokenizer == "word_features":
        lengths, unit = words * len(slots), f"tokens, {len(slots)} per word"
    elif tokenizer == "char":
        lengths, unit = np.asarray([len(" ".join(ws)) for ws in sentences]), "characters"
    else:
        lengths, unit = words * PIECES_PER_WORD, f"words x {PIECES_PER_WORD} pieces"
    if crf:  # cheap per position: read whole sentences (words past seq_len would count as O)
        recipe.choose_seq_len(lengths + 1, "sentences", unit, CRF_SEQ_LEN_RANGE, percentile=100)
        recipe.settings.update(CRF_MODEL, batch_size=32, epochs=1)
        recipe.reasons.append(
            "CRF (linear chain) on the word's features and its neighbours' (two on each side), fitted by "
            "CRFsuite; L1/L2 and a shift of the O tag (decoding from the tag marginals) picked by 3-fold "
            "cross-validated entity F1 on the training sentences: entity F1 0.47 vs 0.35 for the "
            "sklearn-crfsuite peer and 0.33 for the BiLSTM on ner_twitter.conll, at or above the peer on "
            "Hebrew news words and Chinese characters too (BENCHMARKS.md); "
            f"{train_rows} training sentences"
        )
        return recipe
    recipe.choose_seq_len(lengths + 1, "sentences", unit, TAGGER_SEQ_LEN_RANGE)  # + 1: [BOS]
    if kind is None or kind == TAGGER_MODEL["kind"]:
        recipe.settings.update(TAGGER_MODEL)
        recipe.reasons.append(
            "bidirectional LSTM, small: each word's tag reads the words on both sides of it"
        )
    lr = TAGGER_LEARNING_RATES[kind or TAGGER_MODEL["kind"]]
    recipe.choose_optimiser(train_rows, lr, "sentences", "validation entity F1")
    return recipe


def has_recipe(config: RunConfig, interfaces: tuple[str, ...] = tuple(RECIPE_INTERFACES)) -> bool:
    """Whether the config's task has a data-driven recipe: a classifier or a tagger (``interfaces``) trained
    from scratch (a fine-tune's model is its pretrained backbone's)."""
    return tasks.get(config.task).interface in interfaces and not config.finetune.from_run


def require_recipe(
    config: RunConfig, what: str, hint: str, interfaces: tuple[str, ...] = tuple(RECIPE_INTERFACES)
) -> None:
    """Refuse, naming ``what`` (the recipe, the search), a task outside ``interfaces`` or a fine-tune."""
    if not has_recipe(config, interfaces):
        names = [RECIPE_INTERFACES[i] for i in interfaces]
        whom = " and ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} and {names[-1]}"
        raise DataError(
            f"{what} is for {whom} trained from scratch; {config.task} runs take explicit settings.",
            hint=hint,
        )


def choose(config: RunConfig, keep: set[str] | frozenset[str] = frozenset()) -> RunConfig:
    """Apply the recipe where the task has one, keeping the user's own settings named in ``keep``."""
    if not has_recipe(config):
        return config
    try:
        recipe = recipe_for(
            config,
            kind=config.model.kind if "kind" in keep else None,
            tokenizer=config.tokenizer.kind if "tokenizer" in keep else None,
        )
    except DataError:
        # Nothing to choose from: the run itself reports the data error, in its status where the Runs tab
        # and the CLI show it, exactly as without a recipe.
        return config
    return recipe.apply(config, keep)


def recipe_for(config: RunConfig, kind: str | None = None, tokenizer: str | None = None) -> Recipe:
    """The recipe for the config's classifier, tagger or language-model data (``kind``, ``tokenizer``: the
    user's own; seq_len is counted in the tokenizer's units)."""
    d = config.data
    if tasks.get(config.task).interface == tasks.GENERATE:
        settings, reasons = lm_choices(config)
        return Recipe(settings, reasons)
    stamp = os.stat(d.path).st_mtime_ns if os.path.exists(d.path) else 0
    share = 1.0 - d.val_fraction - d.test_fraction
    if tasks.get(config.task).interface == tasks.TAG:
        sentences = _sentences(d.path, stamp, d.max_rows)
        return tagger_recipe(list(sentences), int(len(sentences) * share), kind, tokenizer)
    texts, labels = _texts(d.path, stamp, d.text_column, d.label_column, d.max_rows, d.sheet)
    return classifier_recipe(list(texts), int(len(texts) * share), kind, tokenizer, list(labels))


@functools.lru_cache(maxsize=4)
def _texts(
    path: str,
    stamp: int,
    text_column: str | None,
    label_column: str | None,
    max_rows: int | None,
    sheet: str | None,
):
    """The dataset's texts and labels, cached by file and modification time: the Train tab asks on every
    form change."""
    loaded = load_dataset(
        path,
        text_column=text_column,
        label_column=label_column,
        need_labels=True,
        max_rows=max_rows,
        sheet=sheet,
    )
    return tuple(loaded.frame["text"].tolist()), tuple(loaded.frame["label"].tolist())


@functools.lru_cache(maxsize=4)
def _sentences(path: str, stamp: int, max_rows: int | None) -> tuple[tuple[str, ...], ...]:
    """A CoNLL file's sentences (word tuples), cached like ``_texts``."""
    return tuple(tuple(words) for words in load_conll(path, max_sentences=max_rows).sentences)
