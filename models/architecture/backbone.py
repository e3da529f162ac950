"""The backbone frame shared by every model kind: token_ids -> embeddings -> kind stack -> hidden states."""

from __future__ import annotations

import keras
import keras_hub

from models.architecture.bag import bag_stack
from models.architecture.crf import crf_stack
from models.architecture.hashed import hashed_embedding
from models.architecture.layers import PaddingMask, ZeroPadPositions
from models.architecture.linear import linear_stack
from models.architecture.lstm import lstm_stack
from models.architecture.transformer import LAYER_NORM_EPSILON, transformer_stack
from models.config import ModelConfig

BACKBONE_NAME = "backbone"
TOKEN_EMBEDDING_NAME = "token_embedding"


def build_backbone(cfg: ModelConfig, *, causal: bool, bidirectional: bool) -> keras.Model:
    """Functional model named "backbone": int32 token_ids [batch, seq] -> hidden [batch, seq, hidden_dim].

    `cfg` must be resolved (models.architecture.presets.resolve_model_config) and validated by the caller.
    """
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    padding_mask = PaddingMask(name="padding_mask")(token_ids)
    if cfg.kind == "hashed":  # a small table of shared rows instead of one row per (n-gram) token
        hidden = ZeroPadPositions(name="hidden_states")(hashed_embedding(token_ids, cfg), padding_mask)
        return keras.Model(token_ids, hidden, name=BACKBONE_NAME)
    # ReversibleEmbedding for both kinds, so an LM head can tie to it (reverse=True).
    # reverse_dtype=float32 keeps tied logits in full precision under mixed precision.
    embedding = keras_hub.layers.ReversibleEmbedding(
        cfg.vocab_size,
        cfg.hidden_dim,
        embeddings_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        reverse_dtype="float32",
        name=TOKEN_EMBEDDING_NAME,
    )
    x = embedding(token_ids)
    if cfg.kind == "linear":
        # Class weights per n-gram, no norm: the fit sets them (models.engine.linear_fit).
        x = linear_stack(x, token_ids, cfg.vocab_size)
    elif cfg.kind == "crf":  # tag weights per word feature and window offset, set by the fit (crf_fit)
        x = crf_stack(x, cfg.tokens_per_word, cfg.num_classes)
    elif cfg.kind == "bag":  # no final norm: a bag's pooled magnitude carries how many n-grams agree
        x = bag_stack(x, token_ids, cfg)
    else:
        if cfg.kind == "transformer":
            x = transformer_stack(x, padding_mask, cfg, causal=causal)
        else:
            x = lstm_stack(x, padding_mask, cfg, bidirectional=bidirectional)
        x = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="final_norm")(x)
    hidden = ZeroPadPositions(name="hidden_states")(x, padding_mask)
    return keras.Model(token_ids, hidden, name=BACKBONE_NAME)
