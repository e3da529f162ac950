"""LSTM stack: cfg.num_layers of LSTM(return_sequences=True), bidirectional only where allowed."""

from __future__ import annotations

import keras

from models.config import ModelConfig


def lstm_stack(x, padding_mask, cfg: ModelConfig, bidirectional: bool):
    """Token embeddings [batch, seq, hidden] -> states [batch, seq, hidden].

    Bidirectional layers use hidden_dim // 2 units per direction so the concatenated output keeps the
    backbone contract [batch, seq, hidden_dim] (heads and tied embeddings rely on it).
    """
    units = cfg.hidden_dim // 2 if bidirectional else cfg.hidden_dim
    for i in range(cfg.num_layers):
        x = keras.layers.Dropout(cfg.dropout, name=f"lstm_dropout_{i}")(x)
        layer = keras.layers.LSTM(units, return_sequences=True, name=f"lstm_{i}")
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, merge_mode="concat", name=f"bilstm_{i}")
        # Inputs are right-padded (data.pipelines), so a forward LSTM never reads a PAD before a real
        # token: it needs no mask, which keeps the fast fused kernels (a mask forces Keras' per-step loop
        # on torch, ~3x slower). The backward direction reads the trailing PADs first, so it is masked.
        x = layer(x, mask=padding_mask if bidirectional else None)
    return x
