"""WordPiece vocabulary learning: keras-hub's compute_word_piece_vocabulary vs our merge learner, side by side."""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "assets" / "demo"


def datasets() -> dict[str, list[str]]:
    import pandas as pd

    shakespeare = (DEMO / "shakespeare_1mb.txt").read_text(encoding="utf-8").split("\n")
    sms = pd.read_csv(DEMO / "sms_spam_demo.csv", dtype=str, keep_default_na=False)["text"].tolist()
    return {"sms_spam_demo": sms, "shakespeare_1mb": [t for t in shakespeare if t.strip()]}


def split(texts: list[str]) -> tuple[list[str], list[str]]:
    """Every 10th text is held out, so both halves span the whole file."""
    return [t for i, t in enumerate(texts) if i % 10 != 9], [t for i, t in enumerate(texts) if i % 10 == 9]


def train_before(texts: list[str], vocab_size: int):
    """What ``WordPieceTokenizer.train`` did before: keras-hub's trainer (tf-text's threshold learner)."""
    import keras_hub
    import tensorflow as tf

    from data.special_tokens import SPECIAL_TOKENS
    from data.tokenizers.wordpiece import WordPieceTokenizer
    from data.tokenizers.wordpiece_py import SUFFIX_INDICATOR

    vocab = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(texts).batch(256),
        vocab_size,
        lowercase=True,
        strip_accents=True,
        suffix_indicator=SUFFIX_INDICATOR,
        reserved_tokens=list(SPECIAL_TOKENS),
    )
    return WordPieceTokenizer(list(vocab), lowercase=True)


def train_after(texts: list[str], vocab_size: int):
    from data.tokenizers.wordpiece import WordPieceTokenizer

    return WordPieceTokenizer.train(texts, vocab_size, lowercase=True)


def held_out_quality(tokenizer, held_out: list[str]) -> dict[str, float]:
    """[UNK] per word (an unknown word is one [UNK]) and tokens per word on texts the learner never saw."""
    from data.special_tokens import UNK
    from data.tokenizers.wordpiece import count_words

    words = sum(count_words(held_out, lowercase=True).values())
    ids = [i for row in tokenizer.encode_batch(held_out) for i in row]
    return {"unk_rate": ids.count(UNK) / words, "tokens_per_word": len(ids) / words, "words": words}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vocab-size", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from bench import report

    methods = {
        "before: keras-hub compute_word_piece_vocabulary": train_before,
        "after: merge learner": train_after,
    }
    for fn in methods.values():  # pay imports, tf-text op loading and tracing outside the timings
        fn(["warm up the tokenizer machinery", "twice over"], 50).encode_batch(["warm"])

    rows, results = [], {"vocab_size_target": args.vocab_size, "repeats": args.repeats, "datasets": {}}
    for name, texts in datasets().items():
        train, held_out = split(texts)
        times: dict[str, list[float]] = {m: [] for m in methods}
        last = {}
        for rep in range(args.repeats):
            # Interleaved, order alternating per repeat: the machine is shared, so load drifts.
            order = list(methods) if rep % 2 == 0 else list(methods)[::-1]
            for method in order:
                start = time.perf_counter()
                last[method] = methods[method](train, args.vocab_size)
                times[method].append(time.perf_counter() - start)
                print(f"{name} {method}: {times[method][-1]:.2f} s", flush=True)
        entry = {
            "train_texts": len(train),
            "held_out_texts": len(held_out),
            "train_chars": sum(map(len, train)),
        }
        for method in methods:
            quality = held_out_quality(last[method], held_out)
            median = statistics.median(times[method])
            entry[method] = {
                "seconds": times[method],
                "median_s": median,
                "vocab": last[method].vocab_size,
                **quality,
            }
            rows.append(
                [
                    name,
                    method,
                    round(median, 2),
                    last[method].vocab_size,
                    f"{100 * quality['unk_rate']:.2f}%",
                    round(quality["tokens_per_word"], 3),
                ]
            )
        before, after = (entry[m]["median_s"] for m in methods)
        entry["speedup"] = before / after
        results["datasets"][name] = entry

    table = report.table(
        ["data", "learner", "median train s", "vocab size", "held-out [UNK]/word", "held-out tokens/word"],
        rows,
    )
    speedups = ", ".join(f"{n} {e['speedup']:.0f}x" for n, e in results["datasets"].items())
    notes = (
        f"Target vocabulary {args.vocab_size} (5 specials included); train = 90% of texts, every 10th held out. "
        f"Time covers word counting and learning (texts in, vocabulary out), median of {args.repeats} runs, "
        "both learners interleaved in one process on a shared 2-core machine. [UNK]/word counts whole words "
        f"that encode to [UNK]; tokens/word = WordPiece tokens / pre-tokenized words. Speedup: {speedups}."
    )
    report.write("tokenizer_speed", "WordPiece vocabulary learning", results, table, notes)
    print(table)


if __name__ == "__main__":
    main()
