"""The key/value-cache signatures of a Transformer LM bundle: prefill and decode over per-layer keys and values.

Why not keras-hub's cached call (what Keras generation steps with, models.engine.cached_decoding): its cache is
one [1, layers, 2, L, heads, head_dim] tensor that each layer slices, updates, restacks and transposes, and in
LiteRT those whole-cache copies made a decode cost grow with the window about as fast as a whole-window call
(BENCHMARKS.md "LiteRT: a generated token's cost by window length"). Here each layer keeps its keys already
transposed, [1, heads, head_dim, L], and its values [1, heads, L, head_dim], as separate tensors: a decode writes
one column and one row and reads them with two matmuls. Every sub-layer (norms, projections, feed-forward) is
the block's own; only the attention arithmetic around the cache is written out, and the export verification
holds it to Keras' logits and greedy tokens.
"""

from __future__ import annotations

from typing import Any

from keras import ops

KEYS, VALUES = "keys_{}", "values_{}"  # per-layer cache tensors, inputs of decode and outputs of both


def cache_names(layers: int) -> list[str]:
    """The cache tensors' names, layer by layer: keys_0, values_0, keys_1, ..."""
    return [name.format(i) for i in range(layers) for name in (KEYS, VALUES)]


def prefill(lm: Any, window: Any, length: Any) -> dict[str, Any]:
    """Logits after the first ``length`` ids of ``window`` [1, L], and the per-layer cache they leave."""
    logits, cache = lm.prefill_graph(window, length)  # [1, layers, 2, L, heads, head_dim]
    out = {"logits": logits}
    for i in range(len(lm.blocks)):
        out[KEYS.format(i)] = ops.transpose(cache[:, i, 0], (0, 2, 3, 1))  # [1, heads, head_dim, L]
        out[VALUES.format(i)] = ops.transpose(cache[:, i, 1], (0, 2, 1, 3))  # [1, heads, L, head_dim]
    return out


def decode(lm: Any, token: Any, index: Any, cache: dict[str, Any]) -> dict[str, Any]:
    """Logits after ``token`` [1, 1] at scalar position ``index`` (< L), and the cache with its keys/values."""
    length = ops.shape(cache[KEYS.format(0)])[-1]
    x = lm.embedding(token)
    x = lm.add([x, lm.positions(x, positions=ops.reshape(ops.cast(index, "int32"), (1,)))])
    # Positions after ``index`` hold nothing yet (or an older window's keys): never attended.
    visible = ops.arange(length, dtype="int32") <= ops.cast(index, "int32")
    bias = ops.reshape(ops.where(visible, 0.0, -1e9), (1, 1, 1, length))
    out = {}
    for i, block in enumerate(lm.blocks):
        x, keys, values = _block(block, x, cache[KEYS.format(i)], cache[VALUES.format(i)], index, bias)
        out[KEYS.format(i)], out[VALUES.format(i)] = keys, values
    return {"logits": lm._logits(x[:, 0, :]), **out}


def _block(block: Any, x: Any, keys: Any, values: Any, index: Any, bias: Any) -> tuple[Any, Any, Any]:
    """keras_hub.layers.TransformerDecoder.call for one token at inference (no dropout, no cross-attention)."""
    attention = block._self_attention_layer
    residual = x
    if block.normalize_first:
        x = block._self_attention_layer_norm(x)
    query = attention._query_dense(x)  # [1, 1, heads, head_dim]
    keys = ops.slice_update(keys, (0, 0, 0, index), ops.transpose(attention._key_dense(x), (0, 2, 3, 1)))
    values = ops.slice_update(
        values, (0, 0, index, 0), ops.transpose(attention._value_dense(x), (0, 2, 1, 3))
    )
    scores = ops.matmul(ops.transpose(query, (0, 2, 1, 3)) * attention._inverse_sqrt_key_dim, keys) + bias
    mixed = ops.matmul(ops.softmax(scores, axis=-1), values)  # [1, heads, 1, head_dim]
    x = attention._output_dense(ops.transpose(mixed, (0, 2, 1, 3))) + residual
    if not block.normalize_first:
        x = block._self_attention_layer_norm(x)
    residual = x
    if block.normalize_first:
        x = block._feedforward_layer_norm(x)
    x = block._feedforward_output_dense(block._feedforward_intermediate_dense(x)) + residual
    if not block.normalize_first:
        x = block._feedforward_layer_norm(x)
    return x, keys, values
