"""Special token ids and strings shared by every tokenizer (standard library only, so ports can copy it)."""

from __future__ import annotations

PAD = 0
UNK = 1
BOS = 2  # also the classifier's [CLS] slot
EOS = 3  # also the separator [SEP]
MASK = 4
CLS = BOS
SEP = EOS

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
BOS_TOKEN = "[BOS]"
EOS_TOKEN = "[EOS]"
MASK_TOKEN = "[MASK]"

# Index in this tuple == token id; every vocabulary starts with exactly these.
SPECIAL_TOKENS: tuple[str, ...] = (PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN, MASK_TOKEN)
NUM_SPECIAL_TOKENS = len(SPECIAL_TOKENS)
