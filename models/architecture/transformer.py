"""Transformer block stack (keras-hub layers): position embedding, pre-norm encoder or decoder blocks."""

from __future__ import annotations

import keras
import keras_hub

from models.config import ModelConfig

LAYER_NORM_EPSILON = 1e-5


def transformer_stack(x, padding_mask, cfg: ModelConfig, causal: bool):
    """Token embeddings [batch, seq, hidden] -> contextual states; causal picks decoder blocks."""
    positions = keras_hub.layers.PositionEmbedding(
        sequence_length=cfg.seq_len,
        initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        name="position_embedding",
    )(x)
    x = keras.layers.Add(name="embeddings_add")([x, positions])
    x = keras.layers.Dropout(cfg.dropout, name="embeddings_dropout")(x)
    block_args = dict(
        intermediate_dim=cfg.intermediate_dim,
        num_heads=cfg.num_heads,
        dropout=cfg.dropout,
        activation="gelu",
        layer_norm_epsilon=LAYER_NORM_EPSILON,
        normalize_first=True,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
    )
    for i in range(cfg.num_layers):
        name = f"transformer_layer_{i}"
        if causal:
            # No encoder_sequence: the decoder builds no cross-attention; the causal mask is its default.
            x = keras_hub.layers.TransformerDecoder(**block_args, name=name)(
                x, decoder_padding_mask=padding_mask
            )
        else:
            x = keras_hub.layers.TransformerEncoder(**block_args, name=name)(x, padding_mask=padding_mask)
    return x
