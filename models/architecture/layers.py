"""Tiny serializable layers the builders need: padding mask, pad zeroing and masked mean pooling."""

from __future__ import annotations

import keras
from keras import ops

# The data contract fixes PAD=0 for every tokenizer (docs/ARCHITECTURE.md).
PAD_ID = 0


@keras.saving.register_keras_serializable(package="textlab")
class PaddingMask(keras.layers.Layer):
    """token_ids [batch, seq] -> bool [batch, seq], True where the token is not PAD.

    A layer rather than a raw op so the functional graph serializes without relying on
    ops-in-functional (TFOpLambda-style) nodes.
    """

    def __init__(self, pad_id: int = PAD_ID, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = int(pad_id)
        self.built = True

    def call(self, token_ids):
        return ops.not_equal(token_ids, self.pad_id)

    def compute_output_spec(self, token_ids):
        return keras.KerasTensor(token_ids.shape, dtype="bool")

    def get_config(self) -> dict:
        return {**super().get_config(), "pad_id": self.pad_id}


@keras.saving.register_keras_serializable(package="textlab")
class ZeroPadPositions(keras.layers.Layer):
    """hidden [batch, seq, dim] * mask: exact zeros at PAD positions, and no implicit Keras mask.

    Dropping the implicit mask matters: Keras losses silently re-weight by a mask attached to
    y_pred, which LSTM layers would attach and transformer blocks would not. Stripping it keeps the
    loss identical across model kinds and backends (pad targets are handled by sample weights).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # accept masked inputs without a warning ...
        self.built = True

    def call(self, hidden, padding_mask):
        return hidden * ops.expand_dims(ops.cast(padding_mask, hidden.dtype), -1)

    def compute_mask(self, inputs, previous_mask=None):
        return None  # ... and emit none

    def compute_output_shape(self, hidden_shape, padding_mask_shape=None):
        return hidden_shape


@keras.saving.register_keras_serializable(package="textlab")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean over non-PAD positions: hidden [batch, seq, dim], mask [batch, seq] -> [batch, dim].

    Unlike GlobalAveragePooling1D it cannot divide by zero on an all-PAD row.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.built = True

    def call(self, hidden, padding_mask):
        weights = ops.expand_dims(ops.cast(padding_mask, hidden.dtype), -1)
        total = ops.sum(hidden * weights, axis=1)
        count = ops.maximum(ops.sum(weights, axis=1), ops.cast(1, hidden.dtype))
        return total / count

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def compute_output_shape(self, hidden_shape, padding_mask_shape=None):
        return (hidden_shape[0], hidden_shape[-1])
