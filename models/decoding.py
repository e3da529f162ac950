"""How generation picks a token and which tokens it reads: numpy only, shared by Keras generation and the bundle runner.

Both sides call these functions, so a Keras run and its exported bundle, given the same logits and seed, write
the same tokens; an app porting the runner ports these two pieces too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from data import special_tokens as special

# Ids never chosen: padding, start and mask are not text, and [UNK] prints as noise. EOS stays: it ends the text.
NEVER_SAMPLED = [special.PAD, special.UNK, special.BOS, special.MASK]


def choose_token(
    logits: np.ndarray, temperature: float, top_k: int, rng: np.random.Generator, top_p: float = 1.0
) -> int:
    """Greedy when temperature <= 0; else sample softmax(logits / temperature), kept to the top-k tokens and
    then to the smallest set whose probability reaches top_p (either limit off at 0 / 1.0).

    Why our own and not keras-hub's samplers: those are graph ops, and called eagerly once per token they cost
    0.35-0.8 ms, as much as a cached model step (BENCHMARKS.md "Generation"); numpy takes ~20 us here.
    """
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    if temperature <= 0:
        return int(np.argmax(logits))
    logits = logits / temperature
    if 0 < top_k < len(logits):
        kth_largest = np.partition(logits, -top_k)[-top_k]
        logits = np.where(logits < kth_largest, -np.inf, logits)
    probs = np.exp(logits - np.max(logits))  # minus the max: exp cannot overflow
    probs /= probs.sum()
    if top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        before = np.cumsum(probs[order]) - probs[order]  # probability of the tokens ranked above each one
        kept = order[before < top_p]  # the first token always stays
        nucleus = np.zeros_like(probs)
        nucleus[kept] = probs[kept]
        probs = nucleus / nucleus.sum()
    return int(rng.choice(len(probs), p=probs))


def check_context(context: Sequence[int], seq_len: int) -> None:
    """A cached prefill's context must hold 1 to seq_len ids (one window)."""
    if not 0 < len(context) <= seq_len:
        raise ValueError(f"context of {len(context)} tokens; 1 to {seq_len} fit the window")


def default_keep(seq_len: int) -> int:
    """Tokens a full window keeps when it shifts: three quarters, so a token always reads at least 3/4 of a window.

    Why not slide by one token (keep = seq_len): with learned absolute positions, every slid window is a new
    prefill, so past the window each token would cost a whole-window pass instead of one cached step.
    """
    return max(1, seq_len - seq_len // 4)


@dataclass
class ContextWindow:
    """The tokens the model reads for the next token: the text's last tokens, at positions 0.. of the window.

    The window starts on the prompt's last ``seq_len`` tokens and grows one token per generated token; when it
    is full, it shifts: it restarts on the newest ``keep`` tokens (keep = seq_len: slide by one token, every
    token a full window). A cached model steps while the start stays and prefills when it moves.
    """

    seq_len: int
    keep: int
    start: int = -1  # index into the token list where the context begins; -1 until the first call

    def __post_init__(self) -> None:
        if not 1 <= self.keep <= self.seq_len:
            raise ValueError(f"keep must be 1 to seq_len ({self.seq_len}), got {self.keep}")

    def context(self, tokens: Sequence[int]) -> list[int]:
        """The context for the token after ``tokens`` (a list that grows between calls); moves the start."""
        if self.start < 0 or self.start > len(tokens):
            self.start = max(0, len(tokens) - self.seq_len)
        elif len(tokens) - self.start > self.seq_len:
            self.start = len(tokens) - self.keep
        return list(tokens[self.start :])
