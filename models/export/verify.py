"""Run an exported model in its runtime (LiteRT or onnxruntime, not TensorFlow) and compare it with the Keras model."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from models.export.graph import CLASSIFY, DECODE, NEXT_TOKEN, PREFILL, SCORE, TAG
from models.export.heldout import HeldOut
from models.export.runtimes import Runtime
from models.tasks.spec import CLASSIFY as CLASSIFY_INTERFACE
from models.tasks.spec import TAG as TAG_INTERFACE

_CHUNK = 16  # Keras batch while comparing LM logits: [16, seq_len, vocab] float32 stays small


def verify(model: Any, runtime: Runtime, interface: str | None, examples: HeldOut) -> dict[str, Any]:
    """Agreement numbers between ``model`` (Keras) and the exported model in ``runtime`` on ``examples``.

    The runtime's numbers carry its name: litert_accuracy, onnxruntime_ms_per_call, ...
    """
    checks = {CLASSIFY_INTERFACE: _verify_classifier, TAG_INTERFACE: _verify_tagger}
    check = checks.get(interface, _verify_causal_lm)
    return {
        "examples": int(len(examples.ids)),
        "source": examples.source,
        **check(model, runtime, examples),
    }


def _keras_logits(model: Any, ids: np.ndarray) -> np.ndarray:
    import keras

    return keras.ops.convert_to_numpy(model(ids, training=False)).astype(np.float32)


def _both_logits(model: Any, runtime: Runtime, signature: str, ids: np.ndarray) -> tuple:
    """(Keras logits, exported logits, ms per call in the runtime) of one-input ``signature`` on every row of ``ids``."""
    reference = np.concatenate([_keras_logits(model, ids[i : i + 64]) for i in range(0, len(ids), 64)])
    runner = runtime.signature(signature)
    started = time.perf_counter()
    exported = np.concatenate([runner(token_ids=row[None])["logits"] for row in ids])
    return reference, exported, (time.perf_counter() - started) * 1000 / max(1, len(ids))


def _verify_classifier(model: Any, runtime: Runtime, examples: HeldOut) -> dict[str, Any]:
    reference, exported, ms = _both_logits(model, runtime, CLASSIFY, examples.ids)
    report: dict[str, Any] = {
        "top1_agreement": float(np.mean(reference.argmax(-1) == exported.argmax(-1))),
        "max_abs_logit_diff": float(np.abs(reference - exported).max()),
        f"{runtime.name}_ms_per_call": {CLASSIFY: round(ms, 3)},
    }
    if examples.targets is not None:
        report["keras_accuracy"] = float(np.mean(reference.argmax(-1) == examples.targets))
        report[f"{runtime.name}_accuracy"] = float(np.mean(exported.argmax(-1) == examples.targets))
    return report


def _verify_tagger(model: Any, runtime: Runtime, examples: HeldOut) -> dict[str, Any]:
    """Per-word tag agreement (each word's first sub-token; every position for random ids) and logits."""
    reference, exported, ms = _both_logits(model, runtime, TAG, examples.ids)
    words = examples.weights > 0 if examples.weights is not None else np.ones(examples.ids.shape, bool)
    keras_tags, exported_tags = reference.argmax(-1)[words], exported.argmax(-1)[words]
    report: dict[str, Any] = {
        "tag_agreement": float(np.mean(keras_tags == exported_tags)),
        "words": int(words.sum()),
        "max_abs_logit_diff": float(np.abs(reference - exported).max()),
        f"{runtime.name}_ms_per_call": {TAG: round(ms, 3)},
    }
    if examples.targets is not None:
        report["keras_word_accuracy"] = float(np.mean(keras_tags == examples.targets[words]))
        report[f"{runtime.name}_word_accuracy"] = float(np.mean(exported_tags == examples.targets[words]))
    return report


def _verify_causal_lm(model: Any, runtime: Runtime, examples: HeldOut) -> dict[str, Any]:
    score = runtime.signature(SCORE)
    next_token = runtime.signature(NEXT_TOKEN)
    seq_len = examples.ids.shape[1]
    max_diff = next_diff = 0.0
    agree = positions = 0
    nll = {"keras": 0.0, "exported": 0.0}
    timings = {SCORE: 0.0, NEXT_TOKEN: 0.0}
    for start in range(0, len(examples.ids), _CHUNK):
        batch = examples.ids[start : start + _CHUNK]
        reference = _keras_logits(model, batch)
        for offset, row in enumerate(batch):
            i = start + offset
            tick = time.perf_counter()
            exported = score(token_ids=row[None])["logits"][0]
            timings[SCORE] += time.perf_counter() - tick
            max_diff = max(max_diff, float(np.abs(reference[offset] - exported).max()))
            agree += int(np.sum(reference[offset].argmax(-1) == exported.argmax(-1)))
            positions += seq_len
            if examples.targets is not None:
                target = examples.targets[i]
                nll["keras"] += _nll(reference[offset], target)
                nll["exported"] += _nll(exported, target)
            # The generation signature at a varying position (the last one first) against the same logits.
            position = (seq_len - 1 + 7 * i) % seq_len
            tick = time.perf_counter()
            step = next_token(token_ids=row[None], position=np.array([position], np.int32))["logits"][0]
            timings[NEXT_TOKEN] += time.perf_counter() - tick
            next_diff = max(next_diff, float(np.abs(reference[offset, position] - step).max()))
    count = max(1, len(examples.ids))
    report: dict[str, Any] = {
        "max_abs_logit_diff": max(max_diff, next_diff),
        "next_token_max_abs_logit_diff": next_diff,
        "top1_agreement": agree / max(1, positions),
        f"{runtime.name}_ms_per_call": {
            name: round(total * 1000 / count, 3) for name, total in timings.items()
        },
    }
    if {PREFILL, DECODE} <= set(runtime.signature_io()):
        report.update(_verify_kv_cache(model, runtime, examples.ids))
    if examples.targets is not None:
        keras_ppl = float(np.exp(nll["keras"] / positions))
        exported_ppl = float(np.exp(nll["exported"] / positions))
        report.update(
            {
                "keras_perplexity": keras_ppl,
                f"{runtime.name}_perplexity": exported_ppl,
                "perplexity_relative_diff": abs(exported_ppl - keras_ppl) / keras_ppl,
            }
        )
    return report


def _verify_kv_cache(model: Any, runtime: Runtime, ids: np.ndarray, prompts: int = 3) -> dict[str, Any]:
    """Greedy generation of 2 x seq_len tokens from held-out prompts: the runner's prefill + decode against Keras
    on the whole window per token, both reading models.decoding.ContextWindow's context (so past the window too).

    Each step feeds both the same tokens (Keras' choices), so one disagreement cannot cascade: the share of
    steps whose greedy token agrees, and the largest logit difference.
    """
    from data.special_tokens import PAD
    from models.decoding import NEVER_SAMPLED, ContextWindow, default_keep
    from models.export.run_bundle import next_logits

    seq_len = ids.shape[1]
    keep = default_keep(seq_len)
    window = np.zeros((1, seq_len), dtype=np.int32)
    agree = steps = 0
    max_diff, seconds = 0.0, 0.0
    for row in ids[:prompts]:
        tokens = row[: max(1, seq_len // 8)].tolist()
        context_window = ContextWindow(seq_len, keep)
        exported_logits = next_logits(runtime, seq_len, keep, PAD, kv_cache=True)
        for _ in range(2 * seq_len):
            context = context_window.context(tokens)
            window[:] = 0
            window[0, : len(context)] = context
            reference = _keras_logits(model, window)[0, len(context) - 1]
            tick = time.perf_counter()
            exported = np.asarray(exported_logits(tokens), dtype=np.float32)
            seconds += time.perf_counter() - tick
            max_diff = max(max_diff, float(np.abs(reference - exported).max()))
            reference[NEVER_SAMPLED] = exported[NEVER_SAMPLED] = -np.inf
            agree += int(reference.argmax() == exported.argmax())
            steps += 1
            tokens.append(int(reference.argmax()))
    return {
        "kv_cache_greedy_agreement": agree / max(1, steps),
        "kv_cache_steps": steps,
        "kv_cache_max_abs_logit_diff": max_diff,
        f"{runtime.name}_kv_cache_ms_per_token": round(seconds * 1000 / max(1, steps), 3),
    }


def _nll(logits: np.ndarray, targets: np.ndarray) -> float:
    """Summed negative log-likelihood of ``targets`` [L] under ``logits`` [L, vocab] (float64 log-softmax)."""
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return float(-log_probs[np.arange(len(targets)), targets].sum())
