"""Causal-LM preparation of a streamed corpus: token shards from the workspace cache (encoded once per corpus
and tokenizer, with progress), training windows read from disk, validation and test from the corpus's end."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from data import corpus_stream
from data.errors import DataError
from data.token_shards import FORMAT, Shards, load_shards, write_shards
from data.tokenizers import load_tokenizer, train_tokenizer
from models.config import RunConfig
from models.processes import process_shard
from models.run_dir import RunDir
from models.tasks.preparation import (
    has_saved_tokenizer,
    held_out_set,
    lm_eval_batch_size,
    prepared,
    too_small,
    validation_windows,
)
from models.tasks.spec import PreparedData

# Validation and test read this many tokens at most, in windows spread over the held-out text: a pass costs
# seconds whatever the corpus size (10% of a 1 GB corpus would take longer than most training runs).
EVAL_TOKENS = 1 << 20
STREAMED_TOKENIZERS = ("char", "wordpiece")  # tokens never span whitespace, so pieces encode as the whole


def prepare(
    config: RunConfig, run: RunDir, tokenizer: Any | None, progress: Any | None = None
) -> PreparedData:
    """PreparedData over the corpus's token shards; ``progress(done, total, seconds)`` follows an encoding."""
    from data.pipelines import IN_ORDER, EpochOrder, causal_lm_file_dataset

    t, m = config.train, config.model
    part = dataclasses.astuple(process_shard(config))  # (index, count): this process's slice of every batch
    reporter = progress or EncodingProgress(run)
    try:
        shards, cache = token_shards(config, run, tokenizer, reporter)
    finally:
        if isinstance(reporter, EncodingProgress):
            reporter.close()
    files = shards.files
    for name, split in (("training", "train"), ("validation", "val")):
        if files[split].length <= m.seq_len * (t.batch_size if split == "train" else 1):
            raise too_small(config.data.path, name, files[split].length, m.seq_len, t.batch_size)

    def train_factory(epoch: int) -> Any:
        return causal_lm_file_dataset(
            files["train"], m.seq_len, t.batch_size, EpochOrder(seed=t.seed, epoch=epoch), shard=part
        )

    eval_windows = max(1, EVAL_TOKENS // m.seq_len)
    eval_rows = lm_eval_batch_size(config, shards.tokenizer.vocab_size)

    val_windows = min(eval_windows, validation_windows(config, eval_rows) or eval_windows)

    def eval_set(split: str, windows: int = eval_windows) -> Any | None:
        return held_out_set(
            files[split].length - m.seq_len,
            lambda: causal_lm_file_dataset(
                files[split],
                m.seq_len,
                eval_rows,
                IN_ORDER,
                drop_remainder=part[1] > 1,  # processes must see equal batches
                max_windows=windows,
                shard=part,
            ),
        )

    meta = shards.meta
    report = {
        "stats": {"files": len(meta["files"]), "bytes": sum(meta["bytes"].values())},
        "warnings": [],
        "tokens": dict(meta["tokens"]),
        "vocab_size": shards.tokenizer.vocab_size,
        "streamed": {"cache": cache, "directory": str(shards.directory), "encode_seconds": meta["encode_seconds"],
                     "mb_per_s": meta["mb_per_s"], "tokenizer_sample_bytes": meta["tokenizer_sample_bytes"],
                     "eval_tokens_at_most": eval_windows * m.seq_len,
                     "validation_tokens_at_most": val_windows * m.seq_len},
    }  # fmt: skip
    return prepared(
        config,
        train_factory,
        shards.tokenizer,
        val=eval_set("val", val_windows),
        test=eval_set("test") or eval_set("val"),
        report=report,
    )


def token_shards(
    config: RunConfig, run: RunDir, given: Any | None, progress: Any | None = None
) -> tuple[Shards, str]:
    """The corpus's shards from the cache ("hit") or encoded now ("written"), and which it was.

    A fresh run's tokenizer learns from a bounded sample of the training range; a resumed run (its tokenizer
    saved) or a fine-tune (its parent's) keeps its own, and uses a cache entry only when it was encoded with
    that vocabulary."""
    d = config.data
    if config.tokenizer.kind not in STREAMED_TOKENIZERS:
        raise DataError(
            f"a streamed corpus is encoded with the char or wordpiece tokenizer, not {config.tokenizer.kind!r}.",
            file=d.path,
            hint="choose --tokenizer char or --tokenizer wordpiece for a language model on a large corpus.",
        )
    corpus = corpus_stream.open_corpus(d)
    offsets = corpus_stream.split_offsets(corpus, d.val_fraction, d.test_fraction)
    saved = has_saved_tokenizer(run)
    fixed = load_tokenizer(run.tokenizer_dir) if saved else given
    key = corpus_stream.fingerprint(
        corpus, val=d.val_fraction, test=d.test_fraction, tokenizer=dataclasses.asdict(config.tokenizer),
        format=FORMAT, vocabulary=_vocabulary_hash(fixed) if given is not None else None,
    )  # fmt: skip
    directory = run.corpus_cache_dir / key
    shards = load_shards(directory)
    if shards is not None and fixed is not None and shards.tokenizer.vocabulary != fixed.vocabulary:
        directory = (
            run.corpus_cache_dir / f"{key}-{_vocabulary_hash(fixed)}"
        )  # a resume whose entry was replaced
        shards = load_shards(directory)
    cache = "hit"
    if shards is None:
        cache = "written"
        train_range = offsets["train"]
        texts = [] if fixed is not None else corpus_stream.sample(corpus, *train_range)
        tokenizer = fixed if fixed is not None else train_tokenizer(config.tokenizer, texts)
        shards = write_shards(
            directory,
            tokenizer,
            {name: _reader(corpus, *offsets[name]) for name in corpus_stream.SPLITS},
            {name: hi - lo for name, (lo, hi) in offsets.items()},
            progress=progress,
            extra={"files": [str(f) for f in corpus.files], "offsets": offsets,
                   "tokenizer_sample_bytes": sum(len(x.encode("utf-8")) for x in texts)},
        )  # fmt: skip
    if not saved:
        shards.tokenizer.save(run.tokenizer_dir)
    return shards, cache


def _reader(corpus: corpus_stream.Corpus, start: int, end: int) -> Any:
    return lambda: corpus_stream.read_text(corpus, start, end)


def _vocabulary_hash(tokenizer: Any) -> str:
    return hashlib.sha256("\n".join(tokenizer.vocabulary).encode("utf-8")).hexdigest()[:12]


class EncodingProgress:
    """An encoding's progress: a bar on a terminal (MB/s, ETA) and the run's status message (the UI shows it),
    written at most every ``every_s`` seconds."""

    def __init__(self, run: RunDir, every_s: float = 2.0) -> None:
        self.run, self.every_s, self.last, self.bar = run, every_s, -every_s, None

    def __call__(self, done: int, total: int, seconds: float) -> None:
        from tqdm import tqdm

        if self.bar is None:  # disable=None: only on a terminal, so logs and the UI get the status alone
            self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="tokenizing",
                            disable=None, dynamic_ncols=True)  # fmt: skip
        self.bar.update(done - self.bar.n)
        if seconds - self.last >= self.every_s or done >= total:
            self.last = seconds
            rate = done / max(seconds, 1e-9)
            left = (total - done) / rate if rate > 0 else float("inf")
            self.run.write_status(
                state="running",
                message=f"tokenizing the corpus: {100 * done / max(total, 1):.0f}% of {total / 1e6:,.0f} MB "
                f"({rate / 1e6:.1f} MB/s, about {left:.0f} s left)",
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
