"""A Transformer LM's prefill and one-token decode in numpy, over its Keras weights: what generation steps with.

Why our own arithmetic and not the compiled keras-hub call (models.engine.cached_decoding.TransformerCache, which
the TFLite export still traces): at one token per call the compiled step's cost is per-kernel overhead, not
arithmetic. XLA:CPU spends ~0.28 ms per decoder layer on ~45 kernels of a 128-wide block, and tf.function or
jax.jit binding adds ~0.2 ms per call, where numpy does a layer's few small matmuls in ~0.1 ms; it also needs no
compilation (the compiled step took ~2.5 s on the first generation) and is the same code on every backend
(BENCHMARKS.md, "Generation: key/value cache vs whole window"). Only layers ``cached_lm`` accepted reach here,
so the arithmetic is keras_hub.layers.TransformerDecoder's at inference (no dropout, no cross-attention), held to
the full model's logits by tests/models/test_cached_generation.py. The weights are copied once, when built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from scipy.special import erf

from models.decoding import check_context

KeyValues = list[tuple[np.ndarray, np.ndarray]]  # per layer: keys and values [heads, seq_len, head_dim]


def _gelu(x: np.ndarray) -> np.ndarray:
    """keras.activations.gelu with approximate=False (the erf form), in place."""
    x *= 0.5 * (1.0 + erf(x * np.float32(0.7071067811865476)))
    return x


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


_ACTIVATIONS = {keras.activations.gelu: _gelu, keras.activations.relu: _relu}


@dataclass
class _Norm:
    """keras.layers.LayerNormalization over the last axis."""

    gamma: np.ndarray | float
    beta: np.ndarray | float
    epsilon: float

    @classmethod
    def of(cls, layer: Any) -> _Norm:
        gamma = _array(layer.gamma) if layer.scale else 1.0
        return cls(gamma, _array(layer.beta) if layer.center else 0.0, float(layer.epsilon))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        # np.add.reduce, not .mean: the same sum without .mean's Python wrapper (~5 us, a tenth of a norm here).
        inverse_width = np.float32(1.0 / x.shape[-1])
        centred = x - np.add.reduce(x, -1, keepdims=True) * inverse_width
        variance = np.add.reduce(np.square(centred), -1, keepdims=True) * inverse_width
        return centred * (self.gamma / np.sqrt(variance + self.epsilon)) + self.beta


@dataclass
class _Dense:
    """A Dense or EinsumDense whose kernel flattens to [inputs, outputs] (bias zero when it has none)."""

    kernel: np.ndarray
    bias: np.ndarray | float

    @classmethod
    def of(cls, layer: Any, inputs: int) -> _Dense:
        kernel = _array(layer.kernel).reshape(inputs, -1)
        bias = _array(layer.bias).reshape(-1) if getattr(layer, "bias", None) is not None else 0.0
        return cls(kernel, bias)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = x @ self.kernel
        out += self.bias
        return out


@dataclass
class _Block:
    """One TransformerDecoder's weights, projections joined into one query/key/value matmul."""

    heads: int
    head_dim: int
    scale: float
    normalize_first: bool
    attention_norm: _Norm
    qkv: _Dense
    attention_out: _Dense
    feedforward_norm: _Norm
    intermediate: _Dense
    activation: Any
    output: _Dense

    @classmethod
    def of(cls, block: Any, width: int) -> _Block:
        attention = block._self_attention_layer
        projections = [attention._query_dense, attention._key_dense, attention._value_dense]
        parts = [_Dense.of(layer, width) for layer in projections]
        bias = [np.broadcast_to(p.bias, p.kernel.shape[1:]) for p in parts]
        heads, head_dim = int(attention._num_heads), int(attention._key_dim)
        return cls(
            heads=heads,
            head_dim=head_dim,
            scale=float(attention._inverse_sqrt_key_dim),
            normalize_first=bool(block.normalize_first),
            attention_norm=_Norm.of(block._self_attention_layer_norm),
            qkv=_Dense(np.concatenate([p.kernel for p in parts], 1), np.concatenate(bias)),
            attention_out=_Dense.of(attention._output_dense, heads * head_dim),
            feedforward_norm=_Norm.of(block._feedforward_layer_norm),
            intermediate=_Dense.of(block._feedforward_intermediate_dense, width),
            activation=_ACTIVATIONS[block._feedforward_intermediate_dense.activation],
            output=_Dense.of(block._feedforward_output_dense, block.intermediate_dim),
        )

    def __call__(self, x: np.ndarray, keys: np.ndarray, values: np.ndarray, start: int) -> np.ndarray:
        """x [n, width] at positions start..start+n-1 -> the block's output; writes their keys/values."""
        n, end = x.shape[0], start + x.shape[0]
        residual = x
        if self.normalize_first:
            x = self.attention_norm(x)
        query, key, value = self.qkv(x).reshape(n, 3, self.heads, self.head_dim).transpose(1, 2, 0, 3)
        keys[:, start:end], values[:, start:end] = key, value
        scores = np.matmul(
            query * np.float32(self.scale), keys[:, :end].transpose(0, 2, 1)
        )  # [heads, n, end]
        if n > 1:  # causal: position start+i sees keys 0..start+i
            scores += np.triu(np.full((n, end), -1e9, np.float32), start + 1)
        scores -= scores.max(-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(-1, keepdims=True)
        mixed = np.matmul(scores, values[:, :end]).transpose(1, 0, 2).reshape(n, -1)
        x = self.attention_out(mixed) + residual
        if not self.normalize_first:
            x = self.attention_norm(x)
        residual = x
        if self.normalize_first:
            x = self.feedforward_norm(x)
        x = self.output(self.activation(self.intermediate(x))) + residual
        if not self.normalize_first:
            x = self.feedforward_norm(x)
        return x


def numpy_decoder(lm: Any) -> NumpyTransformer | None:
    """The numpy twin of a models.engine.cached_decoding.TransformerCache; None where its layers hold anything
    the twin does not compute (an activation other than gelu/relu, quantized kernels, a soft-capped head, values
    wider or narrower than keys)."""
    layers = [lm.embedding, lm.head, *[sub for block in lm.blocks for sub in _sublayers(block)]]
    attention = [block._self_attention_layer for block in lm.blocks]
    if any(layer._value_dim != layer._key_dim for layer in attention):
        return None
    if any(getattr(layer, "quantization_mode", None) for layer in layers):
        return None
    if getattr(lm.embedding, "logit_soft_cap", None) is not None:
        return None
    if any(block._feedforward_intermediate_dense.activation not in _ACTIVATIONS for block in lm.blocks):
        return None
    return NumpyTransformer(lm)


def _sublayers(block: Any) -> list[Any]:
    attention = block._self_attention_layer
    return [
        attention._query_dense,
        attention._key_dense,
        attention._value_dense,
        attention._output_dense,
        block._feedforward_intermediate_dense,
        block._feedforward_output_dense,
    ]


class NumpyTransformer:
    """``prefill(context)`` and ``step(token, index, state)`` as models.engine.cached_decoding.CachedLM has them
    (what CachedSession calls); the state is the per-layer keys/values, written in place by ``step``."""

    def __init__(self, lm: Any):
        self.seq_len = lm.seq_len
        self.embeddings = _array(lm.embedding.embeddings)
        self.positions = _array(lm.positions.position_embeddings)
        width = self.embeddings.shape[1]
        self.blocks = [_Block.of(block, width) for block in lm.blocks]
        self.final_norm = _Norm.of(lm.final_norm)
        if isinstance(lm.head, keras.layers.Dense):
            self.head = _Dense.of(lm.head, width)
        else:  # tied (or the embedding's own reverse kernel): ReversibleEmbedding(reverse=True)
            reverse = lm.embedding.embeddings if lm.embedding.tie_weights else None
            kernel = _array(reverse).T if reverse is not None else _array(lm.embedding.reverse_embeddings)
            self.head = _Dense(np.ascontiguousarray(kernel), 0.0)

    def prefill(self, context: Sequence[int]) -> tuple[np.ndarray, KeyValues | None]:
        """float32 logits [1, vocab] after ``context`` (1 to seq_len ids) and the keys/values holding it (None
        when ``context`` fills the window: no token can follow it there)."""
        check_context(context, self.seq_len)
        shapes = [(b.heads, self.seq_len, b.head_dim) for b in self.blocks]
        state = [(np.zeros(shape, np.float32), np.zeros(shape, np.float32)) for shape in shapes]
        logits = self._forward(np.asarray(context), 0, state)
        return logits, None if len(context) == self.seq_len else state

    def step(self, token: int, index: int, state: KeyValues) -> tuple[np.ndarray, KeyValues]:
        """float32 logits [1, vocab] after ``token`` placed at position ``index`` (< seq_len), and the state."""
        return self._forward(np.asarray([token]), index, state), state

    def _forward(self, ids: np.ndarray, start: int, state: KeyValues) -> np.ndarray:
        x = self.embeddings[ids] + self.positions[start : start + len(ids)]
        for block, (keys, values) in zip(self.blocks, state, strict=True):
            x = block(x, keys, values, start)
        # Only the last position predicts the next token.
        return self.head(self.final_norm(x[-1:])).astype(np.float32, copy=False)


def _array(variable: Any) -> np.ndarray:
    return np.array(variable.numpy(), dtype=np.float32)
