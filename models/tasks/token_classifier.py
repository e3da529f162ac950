"""Token classification (tagging, e.g. named entities): one tag per word, from a CoNLL file."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from data.bio_decoding import ChainDecoding, decode_tags
from data.conll import OUTSIDE, entity_spans, is_conll_path, load_conll
from data.errors import DataError
from data.splits import split_frame
from models.config import RunConfig
from models.run_dir import RunDir
from models.tasks.preparation import checked_labels, held_out_set, prepared, tokenizer_for
from models.tasks.spec import HEAD_PER_TOKEN, TAG, PreparedData, TaskSpec


def prepare(config: RunConfig, run: RunDir, tokenizer: Any | None) -> PreparedData:
    """CoNLL sentences -> sub-word rows; each word's tag sits on its first sub-token (data.token_alignment)."""
    # TensorFlow loads when data is prepared, not when the task registry is read.
    from data.pipelines import IN_ORDER, EpochOrder
    from data.token_alignment import align_words, token_classification_dataset

    d, t, m = config.data, config.train, config.model
    if not is_conll_path(d.path):
        raise DataError(
            "token classification reads CoNLL files (token<TAB>tag per line, a blank line between sentences).",
            file=d.path,
            hint="save the tagged data as a .conll file.",
        )
    data = load_conll(d.path, max_sentences=d.max_rows)
    frame = pd.DataFrame({"text": [" ".join(words) for words in data.sentences]})
    splits = split_frame(frame, d.val_fraction, d.test_fraction, seed=d.seed, stratify=False)
    tags = checked_labels(config, run, data.tag_set, data.source, ordered=True)
    tag_index = {tag: i for i, tag in enumerate(tags)}
    tokenizer = tokenizer_for(config, run, splits.train["text"].tolist(), tokenizer)

    def encode(part: pd.DataFrame) -> tuple[Any, list[list[str]]]:
        rows = part.index.tolist()  # positions in data.sentences (frame has a RangeIndex)
        sentences = [data.sentences[r] for r in rows]
        gold = [data.tags[r] for r in rows]
        tag_ids = [[tag_index[tag] for tag in sentence] for sentence in gold]
        return align_words(tokenizer, sentences, tag_ids, m.seq_len), gold

    (train, _), (val, val_gold), (test, test_gold) = (
        encode(s) for s in (splits.train, splits.val, splits.test)
    )
    if len(test.ids) == 0:
        test, test_gold = encode(splits.val)
    if len(train.ids) < t.batch_size:
        raise DataError(
            f"only {len(train.ids)} training sentences, fewer than one batch of {t.batch_size}.",
            file=data.source,
            hint="use more sentences or a smaller batch size.",
        )

    def train_factory(epoch: int) -> Any:
        return token_classification_dataset(train, t.batch_size, EpochOrder(seed=t.seed, epoch=epoch))

    def eval_set(aligned: Any) -> Any | None:
        return held_out_set(
            len(aligned.ids), lambda: token_classification_dataset(aligned, t.batch_size, IN_ORDER)
        )

    truncated = train.truncated_words + val.truncated_words + test.truncated_words
    warnings = list(data.warnings)
    if truncated:
        warnings.append(
            f"{truncated} words of long sentences did not fit in the sequence length ({m.seq_len} tokens) "
            "and were cut; they count as tagged O in the evaluation. Raise seq_len to keep them."
        )
    report = {
        "stats": {"sentences": len(data.sentences), "words": sum(map(len, data.sentences))},
        "entities": data.entity_counts(),
        "warnings": warnings,
        "rows": {"train": len(train.ids), "val": len(val.ids), "test": len(test.ids)},
        "truncated_words": truncated,
        "labels": tags,
        "vocab_size": tokenizer.vocab_size,
    }
    return prepared(
        config,
        train_factory,
        tokenizer,
        val=eval_set(val),
        test=eval_set(test),
        labels=tags,
        train_arrays=(train.ids, train.labels, train.weights),
        test_arrays=(test.ids, test.labels, test.weights),
        test_tags=test_gold,
        val_arrays=(val.ids, val.labels, val.weights) if len(val.ids) else None,
        val_tags=val_gold,
        report=report,
    )


# The layer of a CRF tagger's backbone that holds its transitions and O shift (models.architecture.crf).
CHAIN_LAYER = "tag_chain"


def chain_decoding(model: Any) -> ChainDecoding | None:
    """A CRF tagger's decoding (its learnt transitions and O shift); None for the other kinds."""
    backbone = model.get_layer("backbone")
    if CHAIN_LAYER not in [layer.name for layer in backbone.layers]:
        return None
    chain = backbone.get_layer(CHAIN_LAYER)
    return ChainDecoding(np.asarray(chain.transitions), float(np.asarray(chain.outside_bias)))


def word_tags(
    logits: np.ndarray,
    weights: np.ndarray,
    words: int,
    labels: list[str],
    chain: ChainDecoding | None = None,
) -> list[str]:
    """One sentence's logits ``[seq_len, K]`` (a CRF's emissions with ``chain``) -> a BIO-valid tag per word
    (decoded at each word's first sub-token); words cut by seq_len get O."""
    tags = decode_tags(logits[weights > 0], labels, chain)
    return tags + [OUTSIDE] * (words - len(tags))


def predicted_tags(model: Any, arrays: tuple[np.ndarray, ...], gold: list[list[str]], labels: list[str]):
    """The model's BIO-valid word tags for sentences laid out as ``arrays`` (ids, tag ids, weights)."""
    ids, _, weights = arrays
    logits = model.predict(ids, batch_size=128, verbose=0)
    chain = chain_decoding(model)
    return [word_tags(logits[row], weights[row], len(words), labels, chain) for row, words in enumerate(gold)]


def evaluate(model: Any, data: PreparedData, run: RunDir) -> dict[str, Any]:
    """Entity-level (exact span and type) precision/recall/F1 on the test sentences, plus word accuracy."""
    predicted = predicted_tags(model, data.test_arrays, data.test_tags, data.labels)
    return {**entity_metrics(data.test_tags, predicted), "split": "test"}


def validate(model: Any, data: PreparedData) -> dict[str, float]:
    """Entity F1 on the validation sentences, the epoch-picking score (the loss is mostly the O tag's)."""
    predicted = predicted_tags(model, data.val_arrays, data.val_tags, data.labels)
    return {"val_entity_f1": entity_metrics(data.val_tags, predicted)["entity_f1"]}


def entity_metrics(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, Any]:
    """seqeval-style scores: an entity counts as found only when its span and type match exactly.

    ``entity_precision/recall/f1`` are micro-averaged over entities (seqeval's default); per-type scores
    and their unweighted mean (``entity_macro_f1``) too; ``word_accuracy`` over all words."""
    true_spans = {(i, *span) for i, tags in enumerate(gold) for span in entity_spans(tags)}
    pred_spans = {(i, *span) for i, tags in enumerate(predicted) for span in entity_spans(tags)}
    kinds = sorted({s[1] for s in true_spans | pred_spans})

    def prf(true: set, pred: set) -> dict[str, float]:
        hits = len(true & pred)
        p = hits / len(pred) if pred else 0.0
        r = hits / len(true) if true else 0.0
        return {
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "support": len(true),
        }

    per_type = {
        kind: prf({s for s in true_spans if s[1] == kind}, {s for s in pred_spans if s[1] == kind})
        for kind in kinds
    }
    overall = prf(true_spans, pred_spans)
    words = sum(len(tags) for tags in gold)
    right = sum(g == p for gs, ps in zip(gold, predicted, strict=True) for g, p in zip(gs, ps, strict=True))
    supported = [v["f1"] for v in per_type.values() if v["support"]]
    return {
        "entity_precision": overall["precision"],
        "entity_recall": overall["recall"],
        "entity_f1": overall["f1"],
        "entity_macro_f1": float(np.mean(supported)) if supported else 0.0,
        "entities": overall["support"],
        "predicted_entities": len(pred_spans),
        "word_accuracy": right / words if words else 0.0,
        "per_type": per_type,
        "sentences": len(gold),
    }


SPEC = TaskSpec(
    name="token_classifier",
    label="Token tagging",
    summary="one tag per word (named entities and the like), from a CoNLL file",
    prepare=prepare,
    evaluate=evaluate,
    head=HEAD_PER_TOKEN,
    headline=("entity_f1", "word_accuracy"),
    order=40,
    labelled=True,
    weighted_loss=True,
    exportable=True,
    finetune_label="Fine-tune a token tagger from a run",
    interface=TAG,
    validate=validate,
    select_by="val_entity_f1",
)
