"""Cached generation (Transformer keys/values, LSTM state): the same logits and tokens as the full window, compiled
once; other models keep the full window."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from app.cli_parser import build_parser
from models.architecture.builders import build_model
from models.architecture.heads import TextlabTask
from models.decoding import ContextWindow
from models.engine.cached_decoding import CachedSession, LSTMCache, TransformerCache, cached_lm, generation_lm
from models.engine.inference import generate, load_run
from models.engine.numpy_decoding import NumpyTransformer, numpy_decoder
from models.engine.train import train
from tests.models.test_builders import tiny
from tests.models.test_engine import tiny_config

SEQ_LEN = 32  # tiny_config's window
KINDS = {"transformer": TransformerCache, "lstm": LSTMCache}
GENERATION = {"transformer": NumpyTransformer, "lstm": LSTMCache}  # what generation steps with, per kind


def trained_lm(tmp_path, corpus, kind: str):
    # Enough steps that the Transformer's greedy text is not one repeated character; the seeded samples vary.
    config = tiny_config(tmp_path, corpus, "causal_lm", epochs=1, max_steps=40, learning_rate=1e-2)
    config.model.kind, config.model.num_layers = kind, 2  # two layers: the state stacks per layer
    run = train(config)
    assert run.status()["state"] == "completed", run.status()
    return load_run(run)


def compiled_once(lm) -> bool:
    # torch runs the bodies eagerly (no tracing), so there is nothing to count there; numpy compiles nothing.
    if isinstance(lm, NumpyTransformer):
        return True
    prefills = 1 if isinstance(lm, TransformerCache) else 0  # an LSTM prefills by stepping
    return keras.backend.backend() == "torch" or lm.traces == {"prefill": prefills, "step": 1}


@pytest.mark.backend
@pytest.mark.parametrize("kind", KINDS)
def test_cached_generation_matches_full_window(tmp_path, corpus_txt, kind):
    loaded = trained_lm(tmp_path, corpus_txt, kind)
    generate(loaded, "The ", max_new_tokens=2, use_cache=False)
    assert loaded.cached_lm is None
    for prompt, new in [("The movie ", 12), ("The ", 3 * SEQ_LEN)]:  # inside the window; far past it
        full = generate(loaded, prompt, max_new_tokens=new, temperature=0, use_cache=False)
        cached = generate(loaded, prompt, max_new_tokens=new, temperature=0)
        assert cached == full and len(full) == new  # char tokenizer: one character per token, no EOS
        sampled = [generate(loaded, prompt, max_new_tokens=new, seed=5, use_cache=c) for c in (True, False)]
        assert sampled[0] == sampled[1], "the same logits feed the same seeded sampler"
    assert isinstance(loaded.cached_lm, GENERATION[kind]) and compiled_once(loaded.cached_lm)
    # The CLI's default (use_cache None): the cache only where nothing compiles, the same text either way.
    unasked = load_run(loaded.run)
    assert generate(unasked, "The ", max_new_tokens=5, temperature=0, use_cache=None) == full[:5]
    stepped = unasked.cached_lm.traces["step"] if kind == "lstm" else None
    assert isinstance(unasked.cached_lm, GENERATION[kind]) and stepped in (None, 0), "an LSTM is not compiled"
    flags = [build_parser().parse_args(["generate", "RUN", *f]).kv_cache for f in ([], ["--no-kv-cache"])]
    assert flags == [None, False]


# The compiled paths (the TFLite export traces the Transformer's) and the numpy twin generation steps with.
PATHS = {"transformer": cached_lm, "lstm": cached_lm, "transformer, numpy": generation_lm}


@pytest.mark.parametrize("keep", [SEQ_LEN, 20])  # slide by one token; shift to the newest 20
@pytest.mark.parametrize("path", PATHS)
def test_cached_logits_equal_the_full_model_at_every_length(path, keep):
    # Past seq_len the window shifts as models.decoding.ContextWindow says, for the full-window path and the
    # bundle runner too: steps while its start stays, a prefill when it moves.
    model = build_model(tiny(path.split(",")[0], seq_len=SEQ_LEN, vocab_size=40), "causal_lm")
    lm = PATHS[path](model, SEQ_LEN)
    assert isinstance(lm, NumpyTransformer) == path.endswith("numpy")
    session = CachedSession(lm, keep)
    reference = ContextWindow(SEQ_LEN, keep)
    tokens = np.random.default_rng(0).integers(5, 40, 2 * SEQ_LEN + 10).tolist()
    window = np.zeros((1, SEQ_LEN), dtype=np.int32)
    for n in range(1, len(tokens) + 1):
        context = reference.context(tokens[:n])
        window[:] = 0
        window[0, : len(context)] = context
        full = np.asarray(model.predict_on_batch(window))[:, len(context) - 1]
        np.testing.assert_allclose(session.next_logits(tokens[:n]), full, atol=1e-5, err_msg=f"{n} tokens")
    assert compiled_once(lm)
    # A token list that is not the cached one plus a token (another prompt) is prefilled anew.
    np.testing.assert_allclose(session.next_logits(tokens[:3]), CachedSession(lm).next_logits(tokens[:3]))


def test_models_without_a_cached_path_keep_the_full_window():
    assert cached_lm(build_model(tiny("transformer"), "classifier"), SEQ_LEN) is None
    # A causal backbone under a pooled head.
    assert cached_lm(build_model(tiny("lstm"), "classifier"), SEQ_LEN) is None
    assert cached_lm(build_model(tiny("transformer"), "masked_lm"), SEQ_LEN) is None  # attends both ways
    # A layer the cached path does not know might change what the model computes: no cached path.
    backbone = build_model(tiny("lstm", seq_len=SEQ_LEN), "causal_lm").backbone
    scaled = keras.layers.Rescaling(2.0, name="scale")(backbone.output)
    extended = TextlabTask(keras.Model(backbone.input, scaled, name="backbone"), "causal_lm")
    assert cached_lm(extended, SEQ_LEN) is None
    assert isinstance(cached_lm(TextlabTask(backbone, "causal_lm"), SEQ_LEN), LSTMCache)


def test_the_numpy_twin_computes_an_untied_head_and_leaves_what_it_does_not_know_to_the_compiled_path():
    backbone = build_model(tiny("transformer", seq_len=SEQ_LEN, vocab_size=40), "causal_lm").backbone
    untied = TextlabTask(backbone, "causal_lm", tie_embeddings=False)
    lm = generation_lm(untied, SEQ_LEN)
    assert isinstance(lm, NumpyTransformer)
    tokens = [3, 7, 11, 5]
    window = np.zeros((1, SEQ_LEN), dtype=np.int32)
    window[0, : len(tokens)] = tokens
    full = np.asarray(untied.predict_on_batch(window))[:, len(tokens) - 1]
    np.testing.assert_allclose(lm.prefill(tokens)[0], full, atol=1e-5)
    compiled = cached_lm(untied, SEQ_LEN)
    block = compiled.blocks[0]
    block._feedforward_intermediate_dense.activation = keras.activations.silu  # not one the twin computes
    assert numpy_decoder(compiled) is None and isinstance(generation_lm(untied, SEQ_LEN), TransformerCache)
