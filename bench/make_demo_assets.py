"""Regenerate assets/demo/ (SMS spam subset, 1 MB Shakespeare slice) deterministically from ../shared/data."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DEMO = ROOT / "assets" / "demo"
SMS_ROWS = 2000
SHAKESPEARE_BYTES = 1_000_000
SEED = 1337
MERGED_ROWS = r"\n(?:ham|spam)\t"


def make_sms(source: Path, target: Path, rows: int = SMS_ROWS, seed: int = SEED) -> pd.DataFrame:
    """A stratified sample of ``rows`` rows (class fractions kept), in the source's row order.

    Rows where the source merged several messages into one (an unbalanced quote swallowed the following
    "ham<TAB>..." lines) are left out: they are parsing debris, not SMS messages.
    """
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)[["text", "label"]]
    frame = frame[~frame["text"].str.contains(MERGED_ROWS, regex=True)]
    rng = np.random.default_rng(seed)
    keep = []
    for label in sorted(frame["label"].unique()):
        members = np.flatnonzero(frame["label"].to_numpy() == label)
        take = int(round(rows * len(members) / len(frame)))
        keep.extend(rng.choice(members, size=take, replace=False).tolist())
    sample = frame.iloc[sorted(keep)]
    target.parent.mkdir(parents=True, exist_ok=True)
    sample.to_csv(target, index=False, encoding="utf-8", lineterminator="\n")
    return sample


def make_shakespeare(source: Path, target: Path, size: int = SHAKESPEARE_BYTES) -> bytes:
    """The first ``size`` bytes of the text, cut back to the last complete line."""
    raw = source.read_bytes()[:size]
    cut = raw[: raw.rfind(b"\n") + 1]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(cut)
    return cut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--shared", type=Path, default=SHARED, help="folder with sms_spam.csv and shakespeare.txt"
    )
    parser.add_argument("--out", type=Path, default=DEMO)
    args = parser.parse_args()
    sms = make_sms(args.shared / "sms_spam.csv", args.out / "sms_spam_demo.csv")
    text = make_shakespeare(args.shared / "shakespeare.txt", args.out / "shakespeare_1mb.txt")
    print(f"sms_spam_demo.csv: {len(sms)} rows {sms['label'].value_counts().to_dict()}")
    print(f"shakespeare_1mb.txt: {len(text)} bytes")


if __name__ == "__main__":
    main()
