"""The on-device graph: a trained model rebuilt for float32 inference, and its fixed-length TFLite signatures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from data.errors import DataError
from models import tasks

# Signature names in model.tflite (metadata.json lists their inputs and outputs).
CLASSIFY = "classify"  # token_ids [1, L] -> logits [1, num_classes]
NEXT_TOKEN = "next_token"  # token_ids [1, L], position [1] -> logits [1, vocab]: the generation step
SCORE = "score"  # token_ids [1, L] -> logits [1, L, vocab]: every position (perplexity, scoring)
TAG = "tag"  # token_ids [1, L] -> logits [1, L, num_tags]: read at each word's first sub-token
# A Transformer LM's key/value cache, per layer keys_i [1, heads, head_dim, L] and values_i [1, heads, L, head_dim]
# (models.export.kv_decode):
PREFILL = "prefill"  # token_ids [1, L], length [1] -> logits [1, vocab] after the first length ids, the cache
DECODE = "decode"  # token_id [1, 1], position [1], the cache -> logits [1, vocab] after that token, the cache


@dataclass(frozen=True)
class Endpoint:
    """One signature of the exported model: a traced function and the specs of its inputs."""

    fn: Callable[..., dict[str, Any]]
    input_signature: list[Any]  # tf.TensorSpec, named: the names become the TFLite input names


def inference_copy(model: Any, *, unroll_lstm: bool = False) -> Any:
    """Rebuild ``model`` from its config with float32 compute (and unrolled LSTMs if asked); copy its weights.

    float32: a mixed-precision policy would bake float16/bfloat16 casts into the graph, while TFLite's own
    float16 option stores weights in half precision and still computes robustly. Unrolling removes the
    WHILE loop of an LSTM at the cost of a graph (and file) that grows with the sequence length; delegates
    without control flow (GPU, NNAPI) need it. At a fixed length both forms convert to builtin ops.
    """
    import keras

    config = keras.saving.serialize_keras_object(model)
    _rewrite_config(config, unroll_lstm)
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def _rewrite_config(node: Any, unroll_lstm: bool) -> None:
    """Walk a serialized Keras config in place: LSTM unroll flag, float32 dtype policies."""
    if isinstance(node, dict):
        if node.get("class_name") == "LSTM":
            node["config"]["unroll"] = unroll_lstm
        if node.get("class_name") == "DTypePolicy" and str(node["config"].get("name", "")).startswith(
            "mixed_"
        ):
            node["config"]["name"] = "float32"
        for value in node.values():
            _rewrite_config(value, unroll_lstm)
    elif isinstance(node, list):
        for value in node:
            _rewrite_config(value, unroll_lstm)


def endpoints(model: Any, interface: str | None, seq_len: int) -> dict[str, Endpoint]:
    """The signatures for a task's ``interface`` (TaskSpec.interface): batch 1 and a fixed ``seq_len``
    (TFLite plans memory for static shapes)."""
    import tensorflow as tf

    token_ids = tf.TensorSpec([1, seq_len], tf.int32, name="token_ids")
    if interface in (tasks.CLASSIFY, tasks.TAG):
        name = CLASSIFY if interface == tasks.CLASSIFY else TAG
        return {name: Endpoint(lambda ids: {"logits": model(ids, training=False)}, [token_ids])}
    if interface == tasks.GENERATE:
        position = tf.TensorSpec([1], tf.int32, name="position")

        def next_token(ids: Any, pos: Any) -> dict[str, Any]:
            hidden = model.backbone(ids, training=False)  # [1, L, hidden]
            # Project only the one position the sampler needs: the vocab projection dominates the cost.
            at = tf.gather(hidden, pos, axis=1, batch_dims=1)  # [1, hidden]
            return {"logits": lm_head(model, at)}

        return {
            NEXT_TOKEN: Endpoint(next_token, [token_ids, position]),
            SCORE: Endpoint(lambda ids: {"logits": model(ids, training=False)}, [token_ids]),
            **kv_cache_endpoints(model, seq_len),
        }
    raise DataError(
        f"exporting a model that does {interface!r} is not supported yet.",
        hint=f"Export a run of one of these tasks: {', '.join(tasks.names(lambda s: s.exportable))}.",
    )


def kv_cache_endpoints(model: Any, seq_len: int) -> dict[str, Endpoint]:
    """prefill and decode over per-layer keys/values for a Transformer LM (none for another model), so a phone
    pays one token's work per generated token instead of a whole window's (models.export.kv_decode)."""
    import tensorflow as tf

    from models.engine.cached_decoding import TransformerCache, cached_lm
    from models.export import kv_decode

    lm = cached_lm(model, seq_len)
    if not isinstance(lm, TransformerCache):
        return {}
    _, layers, _, _, heads, head_dim = lm.state_shape
    shapes = {"keys": [1, heads, head_dim, seq_len], "values": [1, heads, seq_len, head_dim]}
    names = kv_decode.cache_names(layers)
    caches = [tf.TensorSpec(shapes[name.split("_")[0]], lm.state_dtype, name=name) for name in names]

    def decode(token: Any, position: Any, *cache: Any) -> dict[str, Any]:
        return kv_decode.decode(lm, token, position[0], dict(zip(names, cache, strict=True)))

    return {
        PREFILL: Endpoint(
            lambda ids, length: kv_decode.prefill(lm, ids, length[0]),
            [
                tf.TensorSpec([1, seq_len], tf.int32, name="token_ids"),
                tf.TensorSpec([1], tf.int32, name="length"),
            ],
        ),
        DECODE: Endpoint(
            decode,
            [
                tf.TensorSpec([1, 1], tf.int32, name="token_id"),
                tf.TensorSpec([1], tf.int32, name="position"),
                *caches,
            ],
        ),
    }


def lm_head(model: Any, hidden: Any) -> Any:
    """The LM head of models.architecture.heads applied to hidden states [..., hidden]: tied embedding or Dense 'logits'.

    The export verification compares these logits with the full model's, so a drift from heads.py shows up.
    """
    from models.architecture.backbone import TOKEN_EMBEDDING_NAME

    head = model.get_layer("logits")
    if model.tie_embeddings:
        return head(model.backbone.get_layer(TOKEN_EMBEDDING_NAME)(hidden, reverse=True))
    return head(hidden)
