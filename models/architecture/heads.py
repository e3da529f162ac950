"""Task heads and TextlabTask, the serializable functional model = backbone + one task head."""

from __future__ import annotations

import keras

from models import tasks
from models.architecture.backbone import BACKBONE_NAME, TOKEN_EMBEDDING_NAME
from models.architecture.bag import NGRAM_EMBEDDING_NAME, WindowContext
from models.architecture.layers import MaskedMeanPooling, PaddingMask
from models.tasks.spec import HEAD_LANGUAGE_MODEL, HEAD_PER_TOKEN, HEAD_POOLED


def language_model_head(
    backbone: keras.Model, token_ids, hidden, num_classes: int, tie: bool, dropout: float
):
    """Hidden states -> float32 vocabulary logits at every position (tied to the token embedding or not).

    A bag backbone mixes no positions, so its head first takes each position's neighbours (CBOW); only a
    masked-LM task reaches here with a bag (models.architecture.builders refuses a causal one)."""
    embedding = backbone.get_layer(TOKEN_EMBEDDING_NAME)
    if any(layer.name == NGRAM_EMBEDDING_NAME for layer in backbone.layers):
        padding_mask = PaddingMask(name="head_padding_mask")(token_ids)
        hidden = WindowContext(name="context_window")(hidden, padding_mask)
    if tie:
        logits = embedding(hidden, reverse=True)
        # The reverse projection already runs in float32 (reverse_dtype); this fixes the symbolic dtype.
        return keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
    # No bias, so tied and untied heads differ by exactly vocab * hidden parameters.
    return keras.layers.Dense(embedding.input_dim, use_bias=False, dtype="float32", name="logits")(hidden)


def pooled_head(backbone: keras.Model, token_ids, hidden, num_classes: int, tie: bool, dropout: float):
    """Masked mean over the real positions -> dropout -> float32 label logits [batch, num_classes]."""
    padding_mask = PaddingMask(name="head_padding_mask")(token_ids)
    # float32: a bfloat16 sum over up to seq_len positions loses too many digits.
    pooled = MaskedMeanPooling(dtype="float32", name="pooling")(hidden, padding_mask)
    return label_logits(pooled, num_classes, dropout)


def per_token_head(backbone: keras.Model, token_ids, hidden, num_classes: int, tie: bool, dropout: float):
    """Dropout -> float32 label logits at every position [batch, seq, num_classes]."""
    return label_logits(hidden, num_classes, dropout)


def label_logits(hidden, num_classes: int, dropout: float):
    hidden = keras.layers.Dropout(dropout, name="head_dropout")(hidden)
    return keras.layers.Dense(num_classes, dtype="float32", name="logits")(hidden)


# TaskSpec.head -> the function that builds it (float32 layers, so mixed precision stays stable).
HEADS = {
    HEAD_LANGUAGE_MODEL: language_model_head,
    HEAD_POOLED: pooled_head,
    HEAD_PER_TOKEN: per_token_head,
}


@keras.saving.register_keras_serializable(package="textlab")
class TextlabTask(keras.Model):
    """token_ids int32 [batch, seq] -> float32 logits; a functional model with a nested "backbone".

    A Model subclass (the keras-hub Task pattern) rather than a plain functional model because a tied LM
    head calls the backbone's embedding layer: plain functional serialization would duplicate that layer
    on load and silently untie the weights. Here from_config rebuilds the head on the loaded backbone.
    """

    def __init__(
        self,
        backbone: keras.Model,
        task: str,
        num_classes: int = 0,
        tie_embeddings: bool = True,
        dropout: float = 0.0,
        **kwargs,
    ):
        head = HEADS[tasks.get(task).head]
        if backbone.name != BACKBONE_NAME:
            raise ValueError(f"the backbone sub-model must be named {BACKBONE_NAME!r}, got {backbone.name!r}")
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        hidden = backbone(token_ids)
        logits = head(backbone, token_ids, hidden, num_classes, tie_embeddings, dropout)
        super().__init__(inputs=token_ids, outputs=logits, **kwargs)
        # Plain attributes set after functional init (setting them earlier breaks the torch backend).
        self.task = task
        self.num_classes = int(num_classes)
        self.tie_embeddings = bool(tie_embeddings)
        self.dropout = float(dropout)

    @property
    def backbone(self) -> keras.Model:
        # A property, not an attribute: the backbone is tracked once, as a layer of the graph.
        return self.get_layer(BACKBONE_NAME)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "task": self.task,
            "num_classes": self.num_classes,
            "tie_embeddings": self.tie_embeddings,
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config: dict) -> TextlabTask:
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
