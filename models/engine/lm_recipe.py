"""The recipe's choices for a causal language model trained from scratch: the learning rate by the model's
width, no dropout, and enough passes over a small corpus to make a few hundred updates.

Measured with the engine's default model (Transformer "tiny", 2 x 64, context 128, batch 32) on three corpora,
whole `app train` commands (BENCHMARKS.md, "Language models: the engine's defaults vs the recipe")."""

from __future__ import annotations

import math
import os
from typing import Any

from data.textshape import chars_per_token
from models.architecture.presets import resolve_model_config
from models.config import RunConfig

# A 64-wide Transformer LM trains best near 1e-2 here (1e-3, the engine's default, left it 0.2-0.5 nats behind
# after the same steps); wider ones take proportionally less (lr ~ 1/width, as muP prescribes for hidden layers),
# which gives 5e-3 at width 128, where the nanoGPT-shaped ablation found 4e-3 to 8e-3 best.
RATE_AT_WIDTH_64 = 1e-2
# Too few updates, not too many, limit a small model on a small corpus: 3 passes over 100 KB are 57 steps.
MIN_STEPS = 600
MOST_EPOCHS = 30  # with early stopping (the engine's patience) and the best epoch kept
FEWEST_EPOCHS = 3  # the engine's default
SAMPLE_BYTES = 1 << 20  # read to learn characters per byte (and words per character) of the file
PIECES_PER_WORD = 1.5  # WordPiece pieces per whitespace word, roughly, on English-like text


def lm_choices(config: RunConfig) -> tuple[dict[str, Any], list[str]]:
    """The settings (by OVERRIDES key) and one reason each, from the model's width and the corpus's size."""
    settings: dict[str, Any] = {}
    reasons: list[str] = []
    m = config.model
    if m.kind == "transformer":
        width = resolve_model_config(m).hidden_dim  # an unknown preset: a DataError the run reports
        rate = float(f"{RATE_AT_WIDTH_64 * 64 / max(1, width):.2g}")
        settings.update(learning_rate=rate, dropout=0.0)
        reasons.append(
            f"AdamW lr {rate:g} for a {width}-wide Transformer (1e-2 at width 64, less in proportion for wider "
            "ones); no dropout: a small model trained for minutes underfits, and dropout only slowed it"
        )
    tokens = corpus_tokens(config.data.path, config.tokenizer.kind)
    if tokens:
        share = 1.0 - config.data.val_fraction - config.data.test_fraction
        per_pass = max(1, int(tokens * share) // (config.train.batch_size * m.seq_len))
        epochs = min(MOST_EPOCHS, max(FEWEST_EPOCHS, math.ceil(MIN_STEPS / per_pass)))
        settings["epochs"] = epochs
        reasons.append(
            f"up to {epochs} epochs of about {per_pass} steps (about {tokens:,} tokens in the file), at least "
            f"{MIN_STEPS} updates where {MOST_EPOCHS} passes allow, with early stopping and the best epoch kept"
        )
    return settings, reasons


def corpus_tokens(path: str, tokenizer: str) -> int:
    """About how many tokens the file holds: its size in characters (from a sample's characters per byte),
    and for a word-piece tokenizer its whitespace words x PIECES_PER_WORD; 0 when it cannot be read."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(SAMPLE_BYTES)
    except OSError:
        return 0
    sample = head.decode("utf-8", errors="ignore")
    chars = size * len(sample) / max(1, len(head))
    if tokenizer == "char":
        return int(chars)
    per_word = chars_per_token(sample.splitlines()) or 1.0
    return int(chars / per_word * PIECES_PER_WORD)
