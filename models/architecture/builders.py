"""Public model-building API: ModelConfig + task -> keras.Model (a "backbone" sub-model plus a task head)."""

from __future__ import annotations

import keras
import keras_hub

# Importing these registers every custom layer/model (package "textlab"), so load_model works after
# `import models.architecture.builders` without custom_objects.
import models.architecture.layers  # noqa: F401
from data.errors import DataError
from models import tasks
from models.architecture.backbone import BACKBONE_NAME, build_backbone
from models.architecture.bag import HashedBigramEmbedding
from models.architecture.crf import WindowEmissions
from models.architecture.hashed import HashedTokenEmbedding
from models.architecture.heads import TextlabTask
from models.architecture.linear import TfidfWeights
from models.architecture.presets import resolve_model_config
from models.config import ModelConfig
from models.tasks.spec import HEAD_PER_TOKEN, HEAD_POOLED


def build_model(cfg: ModelConfig, task: str) -> keras.Model:
    """Build a fresh model named textlab_<kind>_<task>; logits are float32 under any dtype policy."""
    spec = tasks.get(task)
    resolved = resolve_model_config(cfg, task)
    _validate(resolved, spec)
    backbone = build_backbone(
        resolved,
        causal=bool(resolved.causal),
        # causal=True means no position sees a later one, which rules out a bidirectional LSTM too.
        bidirectional=resolved.bidirectional and spec.labelled and not resolved.causal,
    )
    return _task_model(backbone, resolved, task)


def build_task_from_backbone(backbone: keras.Model, cfg: ModelConfig, task: str) -> keras.Model:
    """Put a fresh `task` head on an existing (e.g. pretrained) backbone; its weights are shared, not copied."""
    spec = tasks.get(task)
    resolved = resolve_model_config(cfg, task)
    _check_classes(resolved, spec)
    if spec.causal and not is_causal_backbone(backbone):
        others = ", ".join(tasks.names(lambda s: not s.causal))
        raise DataError(
            f"this backbone attends in both directions, so it cannot be trained as a {spec.name} model, "
            "which must not see later tokens.",
            hint=f"Fine-tune it as one of: {others}; or start from a run with a causal backbone.",
        )
    return _task_model(backbone, resolved, task)


def get_backbone(model: keras.Model) -> keras.Model:
    """The sub-model named "backbone" of a textlab model."""
    try:
        return model.get_layer(BACKBONE_NAME)
    except ValueError:
        raise DataError(
            f"model {model.name!r} has no sub-model named {BACKBONE_NAME!r}.",
            hint="Use a model.keras written by keras-textlab.",
        ) from None


def is_causal_backbone(backbone: keras.Model) -> bool:
    """True when no position can see a later one (decoder blocks, one-directional LSTMs)."""
    bidirectional = (keras.layers.Bidirectional, keras_hub.layers.TransformerEncoder)
    return not any(isinstance(layer, bidirectional) for layer in backbone.layers)


def backbone_kind(backbone: keras.Model) -> str:
    """The model kind, read from the backbone's layers (a loaded backbone carries no config)."""
    if any(isinstance(layer, HashedBigramEmbedding) for layer in backbone.layers):
        return "bag"
    if any(isinstance(layer, HashedTokenEmbedding) for layer in backbone.layers):
        return "hashed"
    if any(isinstance(layer, TfidfWeights) for layer in backbone.layers):
        return "linear"
    if any(isinstance(layer, WindowEmissions) for layer in backbone.layers):
        return "crf"
    recurrent = (keras.layers.LSTM, keras.layers.Bidirectional)
    return "lstm" if any(isinstance(layer, recurrent) for layer in backbone.layers) else "transformer"


def _task_model(backbone: keras.Model, cfg: ModelConfig, task: str) -> keras.Model:
    return TextlabTask(
        backbone,
        task,
        num_classes=cfg.num_classes if tasks.get(task).labelled else 0,
        tie_embeddings=cfg.tie_embeddings,
        dropout=cfg.dropout,
        name=f"textlab_{backbone_kind(backbone)}_{task}",
    )


def _check_classes(cfg: ModelConfig, spec: tasks.TaskSpec) -> None:
    if spec.labelled and cfg.num_classes < 2:
        raise DataError(
            f"model.num_classes must be at least 2 for {spec.name}, got {cfg.num_classes}.",
            hint="Label the data with at least two distinct classes.",
        )


def _validate(cfg: ModelConfig, spec: tasks.TaskSpec) -> None:
    """Reject configs that cannot build, with the field named and what to do."""

    def fail(problem: str, hint: str) -> None:
        raise DataError(problem, hint=hint)

    if cfg.vocab_size < 5:
        # The five special tokens (PAD, UNK, BOS/CLS, EOS/SEP, MASK) alone need ids 0..4.
        fail(f"model.vocab_size is {cfg.vocab_size}.", "Train the tokenizer first; it fills vocab_size in.")
    _check_classes(cfg, spec)
    for field in ("seq_len", "hidden_dim", "num_layers"):
        if getattr(cfg, field) < 1:
            fail(f"model.{field} must be at least 1, got {getattr(cfg, field)}.", f"Set model.{field} >= 1.")
    if not 0.0 <= cfg.dropout < 1.0:
        fail(f"model.dropout must be in [0, 1), got {cfg.dropout}.", "Use e.g. 0.1.")
    if spec.causal and cfg.causal is False:
        fail(
            f"model.causal is false, but a {spec.name} model must not see future tokens.",
            f"Set model.causal to true or null for {spec.name}.",
        )
    if cfg.kind == "transformer":
        if cfg.num_heads < 1 or cfg.hidden_dim % cfg.num_heads:
            fail(
                f"model.hidden_dim ({cfg.hidden_dim}) must be a multiple of model.num_heads ({cfg.num_heads}).",
                "Pick sizes like hidden_dim 64 with 4 heads, or use a preset.",
            )
        if cfg.intermediate_dim < 1:
            fail(
                f"model.intermediate_dim must be at least 1, got {cfg.intermediate_dim}.",
                "Use e.g. 4 * hidden_dim.",
            )
    elif cfg.kind in ("linear", "hashed"):
        if spec.head != HEAD_POOLED:
            fail(
                f"the {cfg.kind} model gives one label per text; it cannot be trained as a {spec.name} model.",
                "Use it for classifiers; use a Transformer, an LSTM or a bag for the other tasks.",
            )
        if cfg.kind == "hashed" and cfg.ngram_buckets < 2:
            fail(
                f"model.ngram_buckets ({cfg.ngram_buckets}) must be at least 2 for the hashed model's table.",
                "Use a preset.",
            )
    elif cfg.kind == "crf":
        if spec.head != HEAD_PER_TOKEN:
            fail(
                f"the CRF tags each word of a sentence; it cannot be trained as a {spec.name} model.",
                "Use it for token tagging; use the linear kind for classifiers.",
            )
        if cfg.tokens_per_word < 1:
            fail(
                f"model.tokens_per_word must be at least 1, got {cfg.tokens_per_word}.",
                "Let the engine set it from the word-feature tokenizer.",
            )
    elif cfg.kind == "bag":
        if spec.causal:
            fail(
                f"the bag model reads no context beyond a bigram, so it cannot learn {spec.name}.",
                "Pretrain a bag with the masked-LM objective (its neighbours predict each masked word), or "
                "use a Transformer or an LSTM for language models.",
            )
        if cfg.ngram_buckets < 2 or cfg.vocab_size**2 >= 2**31:
            fail(
                f"model.ngram_buckets ({cfg.ngram_buckets}) must be at least 2 and the vocabulary "
                f"({cfg.vocab_size}) at most 46,340 tokens for the bag model's bigram hashing.",
                "Use a preset, or a smaller tokenizer vocab_size.",
            )
    elif cfg.bidirectional and spec.labelled and cfg.hidden_dim % 2:
        fail(
            f"model.hidden_dim ({cfg.hidden_dim}) must be even for a bidirectional LSTM (half per direction).",
            "Use an even hidden_dim.",
        )
