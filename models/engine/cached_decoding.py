"""Next-token logits of a loaded causal LM that carry its keys/values (Transformer) or state (LSTM) token to token."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import keras_hub
import numpy as np
from keras import ops

from models.architecture.backbone import BACKBONE_NAME, TOKEN_EMBEDDING_NAME
from models.architecture.layers import PaddingMask, ZeroPadPositions
from models.decoding import ContextWindow, check_context, default_keep
from models.engine.numpy_decoding import numpy_decoder

# Every layer a causal backbone of models.architecture may hold, per kind. Anything else (a layer added to the
# architecture later, a foreign file) means the cached path might not compute what the model does: it is
# refused and generation keeps the full-window call.
_COMMON_LAYERS = (
    keras.layers.InputLayer,
    keras_hub.layers.ReversibleEmbedding,
    keras.layers.Dropout,
    keras.layers.LayerNormalization,
    PaddingMask,
    ZeroPadPositions,
)
_DECODER = keras_hub.layers.TransformerDecoder
_TRANSFORMER_LAYERS = (*_COMMON_LAYERS, keras_hub.layers.PositionEmbedding, keras.layers.Add, _DECODER)
_LSTM_LAYERS = (*_COMMON_LAYERS, keras.layers.LSTM)


def cached_lm(model: Any, seq_len: int) -> CachedLM | None:
    """The cached path for a textlab Transformer or forward-LSTM causal LM; None for any other model."""
    try:
        backbone = model.get_layer(BACKBONE_NAME)
        head = model.get_layer("logits")
    except (AttributeError, ValueError):
        return None
    layers = backbone.layers
    names = {layer.name for layer in layers}
    # The LM head and nothing else on top of the backbone (a tied head lists the shared embedding there too);
    # a pooled or per-token label head, or a bag's context window, is not a language model we can step.
    top = {layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)}
    if (
        not isinstance(head, keras.layers.Dense | keras.layers.Activation)
        or not top <= {BACKBONE_NAME, TOKEN_EMBEDDING_NAME, "logits"}
        or not {TOKEN_EMBEDDING_NAME, "final_norm"} <= names
    ):
        return None
    blocks = [layer for layer in layers if isinstance(layer, _DECODER)]
    if (
        blocks
        and all(isinstance(layer, _TRANSFORMER_LAYERS) for layer in layers)
        and all(block._cross_attention_layer is None for block in blocks)
        and {"position_embedding", "embeddings_add"} <= names
    ):
        return TransformerCache(model, seq_len)
    lstms = [layer for layer in layers if isinstance(layer, keras.layers.LSTM)]
    if (
        lstms
        and all(isinstance(layer, _LSTM_LAYERS) for layer in layers)
        and all(lstm.return_sequences and not (lstm.go_backwards or lstm.stateful) for lstm in lstms)
        and len({lstm.units for lstm in lstms}) == 1
    ):
        return LSTMCache(model, seq_len)
    return None


def generation_lm(model: Any, seq_len: int) -> Any:
    """What generation steps with: a Transformer's numpy twin (models.engine.numpy_decoding) where it has one,
    else ``cached_lm``'s compiled path (an LSTM, a Transformer the twin does not compute), else None."""
    lm = cached_lm(model, seq_len)
    if isinstance(lm, TransformerCache):
        return numpy_decoder(lm) or lm
    return lm


class CachedLM:
    """What both kinds share: the embedding, final norm and head, and a one-token ``step`` compiled once.

    ``step(token, index, state)`` feeds ``token`` at position ``index`` and returns the logits after it and the
    new state. Shapes never change, so the step traces once, on its first call; ``traces`` counts the traces
    (TensorFlow, JAX: Python runs a compiled body only while tracing), to show a retrace if one ever happens.
    ``step_graph`` is the step's body for a caller that traces it itself (the TFLite export).
    """

    def __init__(self, model: Any, seq_len: int, state_shape: tuple[int, ...], state_dtype: str):
        backbone = model.get_layer(BACKBONE_NAME)
        self.model, self.seq_len = model, int(seq_len)
        self.embedding = backbone.get_layer(TOKEN_EMBEDDING_NAME)
        self.final_norm = backbone.get_layer("final_norm")
        self.head = model.get_layer("logits")
        self.state_shape, self.state_dtype = state_shape, state_dtype
        self.traces = {"prefill": 0, "step": 0}
        self._step = _compile(
            self.step_graph, model.weights, [((1, 1), "int32"), ((), "int32"), (state_shape, state_dtype)]
        )

    def prefill(self, context: Sequence[int]) -> tuple[np.ndarray, Any]:
        """float32 logits [1, vocab] after ``context`` (1 to seq_len ids) and the state holding it (None when
        ``context`` fills the window: no token can follow it there)."""
        raise NotImplementedError

    def step(self, token: int, index: int, state: Any) -> tuple[np.ndarray, Any]:
        """float32 logits [1, vocab] after ``token`` placed at position ``index`` (< seq_len), and the new state."""
        logits, state = self._step(np.array([[token]], dtype=np.int32), np.int32(index), state)
        return _numpy(logits), state

    def step_graph(self, token: Any, index: Any, state: Any) -> tuple[Any, Any]:
        """Logits [1, vocab] after ``token`` [1, 1] at scalar position ``index``, and the new state (tensors)."""
        raise NotImplementedError

    def _logits(self, hidden):
        hidden = self.final_norm(hidden)
        if isinstance(self.head, keras.layers.Dense):
            return self.head(hidden)
        return self.head(self.embedding(hidden, reverse=True))  # tied head: the float32 "logits" activation


class TransformerCache(CachedLM):
    """The decoder blocks called with a key/value cache [1, layers, 2, seq_len, heads, head_dim].

    ``prefill`` runs the context padded to a [1, seq_len] window in one call (compiled once too);
    ``prefill_graph`` is its body.
    """

    def __init__(self, model: Any, seq_len: int):
        backbone = model.get_layer(BACKBONE_NAME)
        self.positions = backbone.get_layer("position_embedding")
        self.add = backbone.get_layer("embeddings_add")
        self.blocks = [layer for layer in backbone.layers if isinstance(layer, _DECODER)]
        if seq_len > self.positions.sequence_length:
            raise ValueError(
                f"seq_len {seq_len} is past the model's {self.positions.sequence_length} positions"
            )
        heads = self.blocks[0].num_heads
        width = backbone.get_layer(TOKEN_EMBEDDING_NAME).output_dim
        shape = (1, len(self.blocks), 2, int(seq_len), heads, width // heads)
        super().__init__(model, seq_len, shape, self.blocks[0].compute_dtype)
        specs = [((1, self.seq_len), "int32"), ((), "int32")]
        self._prefill = _compile(self.prefill_graph, model.weights, specs)

    def prefill(self, context: Sequence[int]) -> tuple[np.ndarray, Any]:
        check_context(context, self.seq_len)
        # PAD after the context; never attended, since every PAD comes later than every real token.
        window = np.zeros((1, self.seq_len), dtype=np.int32)
        window[0, : len(context)] = context
        logits, cache = self._prefill(window, np.int32(len(context)))
        return _numpy(logits), None if len(context) == self.seq_len else cache

    def prefill_graph(self, window: Any, length: Any) -> tuple[Any, Any]:
        """Logits [1, vocab] after the first ``length`` (scalar) ids of ``window`` [1, seq_len], and its cache."""
        self.traces["prefill"] += 1
        hidden, cache = self._blocks(window, ops.zeros(self.state_shape, dtype=self.state_dtype), 0)
        # Only the last real position predicts the next token: project that one row, not seq_len of them.
        return self._logits(ops.take(hidden, length - 1, axis=1)), cache

    def step_graph(self, token: Any, index: Any, cache: Any) -> tuple[Any, Any]:
        self.traces["step"] += 1
        hidden, cache = self._blocks(token, cache, index)
        return self._logits(hidden[:, 0, :]), cache

    def _blocks(self, token_ids, cache, index):
        # The backbone's graph without its dropouts (inference) and without the padding mask: the causal mask
        # already hides every PAD of the window, which only ever follows the real tokens.
        x = self.embedding(token_ids)
        # Positions as a gather, not start_index: XLA compiles PositionEmbedding's slice again for every new
        # start index (a constant to it), i.e. once per generated token.
        positions = ops.arange(ops.shape(token_ids)[1], dtype="int32") + ops.cast(index, "int32")
        x = self.add([x, self.positions(x, positions=positions)])
        caches = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(
                x, self_attention_cache=cache[:, i], self_attention_cache_update_index=index
            )
            caches.append(layer_cache)
        return x, ops.stack(caches, axis=1)


class LSTMCache(CachedLM):
    """The LSTM layers' cells stepped one token at a time; state [1, layers, 2 (h, c), units].

    ``prefill`` steps through the context from the zero state, as the full window starts; a context that fills
    the window (no token can follow it there: the window shifts next) is one call of the whole model instead,
    which is cheaper than seq_len steps.
    """

    def __init__(self, model: Any, seq_len: int):
        backbone = model.get_layer(BACKBONE_NAME)
        self.cells = [layer.cell for layer in backbone.layers if isinstance(layer, keras.layers.LSTM)]
        shape = (1, len(self.cells), 2, self.cells[0].units)
        super().__init__(model, seq_len, shape, self.cells[0].compute_dtype)

    def prefill(self, context: Sequence[int]) -> tuple[np.ndarray, Any]:
        check_context(context, self.seq_len)
        if len(context) == self.seq_len:
            logits = self.model.predict_on_batch(np.asarray([context], dtype=np.int32))[:, -1, :]
            return np.array(logits, dtype=np.float32), None
        state = ops.zeros(self.state_shape, dtype=self.state_dtype)
        for index, token in enumerate(context):
            logits, state = self._step(np.array([[token]], dtype=np.int32), np.int32(index), state)
        return _numpy(logits), state

    def step_graph(self, token: Any, index: Any, state: Any) -> tuple[Any, Any]:
        self.traces["step"] += 1
        x = self.embedding(token)[:, 0, :]
        states = []
        for i, cell in enumerate(self.cells):
            x, (h, c) = cell(x, [state[:, i, 0], state[:, i, 1]])
            states.append(ops.stack([h, c], axis=1))
        return self._logits(x), ops.stack(states, axis=1)


class CachedSession:
    """One generation's state: ``next_logits(tokens)`` for a token list that grows by one id per call.

    The context follows models.decoding.ContextWindow, as the full-window path and the bundle runner do: while
    its start stays, each call is one step; when the window shifts (or another token list comes), the new
    context is prefilled.
    """

    def __init__(self, lm: CachedLM, keep: int | None = None):
        self.lm = lm
        self.window = ContextWindow(lm.seq_len, keep or default_keep(lm.seq_len))
        self.cached: list[int] = []  # the context whose keys/values (or state) ``state`` holds
        self.state: Any = None

    def next_logits(self, tokens: Sequence[int]) -> np.ndarray:
        """float32 logits [1, vocab] for the token after ``tokens``."""
        context = self.window.context(tokens)
        if self.state is not None and context[:-1] == self.cached:
            logits, self.state = self.lm.step(context[-1], len(self.cached), self.state)
        else:
            logits, self.state = self.lm.prefill(context)
        self.cached = context
        return logits


def _numpy(logits: Any) -> np.ndarray:
    return np.array(ops.convert_to_numpy(logits), dtype=np.float32)


def _compile(fn: Callable, weights: list, specs: list[tuple[tuple[int, ...], str]]) -> Callable:
    """``fn`` compiled on its first call: an exporter that only traces the bodies pays for no compilation."""
    compiled: list[Callable] = []

    def call(*args: Any) -> Any:
        if not compiled:
            compiled.append(_compiled(fn, weights, specs))
        return compiled[0](*args)

    return call


def _compiled(fn: Callable, weights: list, specs: list[tuple[tuple[int, ...], str]]) -> Callable:
    """``fn`` compiled for fixed input shapes on the current backend (TensorFlow graph, jax.jit, torch no_grad)."""
    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        signature = [tf.TensorSpec(shape, dtype) for shape, dtype in specs]
        # XLA: about 40% less time per step than the plain graph here. Calling the concrete function skips
        # tf.function's per-call argument binding (~0.2 ms, a fifth of a step on a small model).
        return tf.function(fn, input_signature=signature, jit_compile=True).get_concrete_function()
    if backend == "jax":
        import jax

        # The weights go in as arguments (keras-hub's CausalLM pattern): closed over, jit would bake them
        # into the program as constants.
        @jax.jit
        def stateless(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(weights, values, strict=True))):
                return fn(*args)

        return lambda *args: stateless([w.value for w in weights], *args)
    if backend == "torch":
        import torch

        def no_grad(*args):
            with torch.no_grad():
                return fn(*(ops.convert_to_tensor(a) for a in args))

        return no_grad
    return fn
