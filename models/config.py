"""Typed run configuration: dataclasses that round-trip through config.json (data's own pieces from data.config)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from data.config import DataConfig, TokenizerConfig
from data.fileio import atomic_write_text

ModelKind = Literal["transformer", "lstm", "bag", "hashed", "linear", "crf"]
Backend = Literal["tensorflow", "jax", "torch"]
Precision = Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"]
Distribution = Literal["none", "data_parallel"]
ClassWeight = Literal["none", "balanced"]

# The CRF kind's window: the words whose features score a word's tag (itself and two on each side). Here, not in
# models.architecture.crf, so sizing a CRF never imports Keras (the CLI picks the backend before it does).
CRF_OFFSETS: tuple[int, ...] = (-2, -1, 0, 1, 2)
# Kinds whose weights are fitted in closed form by a convex solver, once, instead of trained epoch by epoch.
FITTED_KINDS: tuple[str, ...] = ("linear", "crf")

# The choices the CLI and the UI offer, read from the types above.
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)
BACKENDS: tuple[str, ...] = get_args(Backend)
PRECISIONS: tuple[str, ...] = get_args(Precision)
DISTRIBUTIONS: tuple[str, ...] = get_args(Distribution)
CLASS_WEIGHTS: tuple[str, ...] = get_args(ClassWeight)


@dataclass
class ModelConfig:
    """Architecture. vocab_size/num_classes are filled in by the engine from the data."""

    kind: ModelKind = "transformer"
    preset: str | None = "tiny"  # tiny / small / base; explicit fields below override when preset is None
    seq_len: int = 128
    hidden_dim: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_dim: int = 256
    dropout: float = 0.1
    tie_embeddings: bool = True  # transformer LM: output projection shares the token embedding
    bidirectional: bool = False  # LSTM classifiers and taggers only
    causal: bool | None = None  # backbone attention; None: what the task needs (TaskSpec.causal)
    ngram_buckets: int = 20_000  # bag: rows of the hashed bigram embedding; hashed: rows of its only table
    tokens_per_word: int = 1  # crf only: ids per word (the word-feature tokenizer's slots); set from the data
    vocab_size: int = 0
    num_classes: int = 0


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    min_lr_ratio: float = 0.1  # cosine decays to learning_rate * min_lr_ratio
    clip_norm: float = 1.0
    max_steps: int | None = None  # stop after this many optimizer steps in total
    steps_per_epoch: int | None = None  # None: one pass over the training split
    time_budget_s: float | None = None  # stop (and finish normally) after this much training time
    # Language models: each validation during training reads at most this many tokens, in windows spread evenly
    # over the validation split (nanoGPT's eval_iters idea), so a check costs well under a second while the
    # steps wait; the final evaluation reads the whole held-out split. None or 0: the whole split every time.
    validation_tokens: int | None = 32_768
    early_stopping_patience: int | None = 3  # epochs without val improvement; None: off
    log_every: int = 10
    checkpoint_every: int = 200  # steps; a checkpoint is also written at each epoch end and on stop
    steps_per_execution: int = 1
    jit_compile: bool | Literal["auto"] = "auto"
    seed: int = 1337
    # balanced: each class's examples weigh n / (classes * count) in the loss (classifiers; the linear kind's
    # liblinear fits too), so a rare class counts as much as a common one
    class_weight: ClassWeight = "none"


@dataclass
class FinetuneConfig:
    """Fine-tuning a classifier from a pretrained run's backbone."""

    from_run: str | None = None  # run id or path of the pretrained run
    freeze_backbone_epochs: int = 0
    backbone_lr_multiplier: float = 1.0


@dataclass
class DistillConfig:
    """Knowledge distillation: a student classifier trained on a finished classifier run's soft labels."""

    teacher: str | None = None  # run id or path of the teacher (a completed classifier run)
    # softens both distributions in the soft-label term (Hinton et al., 2015); 1 scored above 2 with a linear
    # teacher on sms_spam and fortunes (BENCHMARKS.md "Distillation ...")
    temperature: float = 1.0
    alpha: float = 0.5  # weight of the soft-label term; 1 - alpha weighs the hard-label cross-entropy
    unlabelled_path: str | None = None  # extra texts (a file with a text column) the teacher labels softly
    augment: int | None = None  # perturbed copies of each training text the teacher labels too; None: chosen


@dataclass
class PruneConfig:
    """Magnitude pruning of a finished run's weights to a target sparsity, with a short fine-tune."""

    sparsity: float = 0.0  # share of each pruned weight matrix set to zero; 0: no pruning


@dataclass
class RunConfig:
    """Everything a run needs; saved as <run>/config.json so the run can be repeated."""

    task: str = ""  # a name in the task registry (models.tasks); the CLI and UI fill in its default
    name: str = ""
    backend: Backend = "tensorflow"
    precision: Precision = "auto"
    distribution: Distribution = "none"
    workspace: str = "workspace"
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    prune: PruneConfig = field(default_factory=PruneConfig)
    recipe: list[str] = field(default_factory=list)  # why a data-driven recipe chose its settings, if one did

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def apply_overrides(self, values: Mapping[str, Any]) -> RunConfig:
        """Set the fields named by OVERRIDES keys (CLI flag names, Train-tab fields); None leaves a field as it is.

        The CLI and the UI both build a run's config this way, so the same inputs give the same config.
        """
        unknown = sorted(set(values) - set(OVERRIDES))
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(OVERRIDES)}")
        for key, value in values.items():
            if value is None:
                continue
            *parents, leaf = OVERRIDES[key].split(".")
            target: Any = self
            for part in parents:
                target = getattr(target, part)
            setattr(target, leaf, value)
        return self

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunConfig:
        return _from_dict(cls, raw, "config")

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


# Override name (a CLI flag's dest, a Train-tab field) -> the dotted RunConfig field it sets.
OVERRIDES: dict[str, str] = {
    "data": "data.path",
    "name": "name",
    "text_column": "data.text_column",
    "label_column": "data.label_column",
    "text_mode": "data.text_mode",
    "sheet": "data.sheet",
    "merge_label_case": "data.merge_label_case",
    "val_fraction": "data.val_fraction",
    "test_fraction": "data.test_fraction",
    "split_seed": "data.seed",
    "kind": "model.kind",
    "preset": "model.preset",
    "seq_len": "model.seq_len",
    "dropout": "model.dropout",
    "bidirectional": "model.bidirectional",
    "tokenizer": "tokenizer.kind",
    "vocab_size": "tokenizer.vocab_size",
    "max_ngrams": "tokenizer.max_ngrams",
    "min_frequency": "tokenizer.min_frequency",
    "word_slots": "tokenizer.word_slots",
    "backend": "backend",
    "precision": "precision",
    "distribution": "distribution",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "learning_rate": "train.learning_rate",
    "max_steps": "train.max_steps",
    "steps_per_epoch": "train.steps_per_epoch",
    "validation_tokens": "train.validation_tokens",
    "early_stopping_patience": "train.early_stopping_patience",
    "log_every": "train.log_every",
    "seed": "train.seed",
    "class_weight": "train.class_weight",
    "from_run": "finetune.from_run",
    "freeze_backbone_epochs": "finetune.freeze_backbone_epochs",
    "backbone_lr_multiplier": "finetune.backbone_lr_multiplier",
    "teacher": "distill.teacher",
    "distill_temperature": "distill.temperature",
    "distill_alpha": "distill.alpha",
    "unlabelled": "distill.unlabelled_path",
    "augment": "distill.augment",
    "sparsity": "prune.sparsity",
}


def _from_dict(cls: type, raw: dict[str, Any], where: str) -> Any:
    """Build a dataclass from a dict, rejecting unknown keys with the field path named."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    kwargs = {}
    for name, value in raw.items():
        default = fields[name].default_factory  # type: ignore[misc]
        if default is not dataclasses.MISSING and dataclasses.is_dataclass(default):
            kwargs[name] = _from_dict(default, value, f"{where}.{name}")
        else:
            kwargs[name] = value
    return cls(**kwargs)
