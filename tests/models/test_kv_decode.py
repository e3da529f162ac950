"""models.export.kv_decode: the bundle's per-layer key/value decode gives the full model's logits at every position."""

from __future__ import annotations

import keras
import numpy as np

from models.architecture.builders import build_model
from models.decoding import ContextWindow
from models.engine.cached_decoding import cached_lm
from models.export import kv_decode
from tests.models.test_builders import tiny

SEQ_LEN = 16


def test_prefill_then_decode_equal_the_full_model_through_window_restarts():
    config = tiny("transformer", seq_len=SEQ_LEN, vocab_size=40)
    config.num_layers = 2
    model = build_model(config, "causal_lm")
    lm = cached_lm(model, SEQ_LEN)
    window, held, cache = ContextWindow(SEQ_LEN, keep=10), [], {}
    calls = {"prefill": 0, "decode": 0}
    tokens = np.random.default_rng(0).integers(5, 40, 3 * SEQ_LEN).tolist()
    padded = np.zeros((1, SEQ_LEN), dtype=np.int32)
    for n in range(4, len(tokens) + 1):
        context = window.context(tokens[:n])
        padded[:] = 0
        padded[0, : len(context)] = context
        full = keras.ops.convert_to_numpy(model(padded))[0, len(context) - 1]
        if cache and context[:-1] == held:
            out = kv_decode.decode(lm, np.array([context[-1:]], np.int32), np.int32(len(context) - 1), cache)
            calls["decode"] += 1
        else:  # the first call, and each time the window restarts
            out = kv_decode.prefill(lm, padded, np.int32(len(context)))
            calls["prefill"] += 1
        held, cache = context, {k: v for k, v in out.items() if k != "logits"}
        assert sorted(cache) == sorted(kv_decode.cache_names(2))
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(out["logits"])[0], full, atol=1e-5, err_msg=f"{n}"
        )
    assert calls["prefill"] >= 6 and calls["decode"] >= 30, calls
