"""Reference runner for an exported bundle: numpy + LiteRT (model.tflite) or onnxruntime (model.onnx) + a
pure-Python tokenizer.

This is the file to port to an app (with runtimes.py, one call per signature in either runtime). It imports
neither TensorFlow nor Keras, and does what an app does, the same for both model formats:

  classify:  [BOS] + token ids of the text, cut to seq_len, padded with [PAD]
             -> signature "classify" -> logits [1, classes] -> softmax -> labels.txt order
  generate:  [BOS] + token ids of the prompt; then repeatedly: the last seq_len tokens, padded
             -> signature "next_token" at the last real position -> logits [1, vocab]
             -> greedy / temperature / top-k choice -> append; stop at [EOS] or after max tokens
  tag:       [BOS] w1 sep w2 ... (each word encoded alone; sep = what a space encodes to), padded
             -> signature "tag" -> logits [1, seq_len, tags] read at each word's first piece
             -> Viterbi with I-x only after B-x / I-x -> one tag per word; long texts window by window
             (a CRF tagger's metadata has "decoding": Viterbi over its tag marginals, O shifted)

Usage:
  python -m models.export.run_bundle BUNDLE_DIR_OR_ZIP --text "what a lovely film"
  python -m models.export.run_bundle BUNDLE_DIR_OR_ZIP --prompt "Once" --max-tokens 50 --temperature 0.8 --top-k 20
  python -m models.export.run_bundle BUNDLE_DIR_OR_ZIP --text "Anna flew to Lisbon"     # a tagger bundle
  python -m models.export.run_bundle RUN/exports/onnx-float32 --text "what a lovely film"  # an ONNX bundle
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from data.bio_decoding import ChainDecoding, decode_tags
from data.tokenizers.base import read_saved
from data.tokenizers.char import CharTokenizer
from data.tokenizers.ngrams import NgramTokenizer
from data.tokenizers.word_features import WordFeatureTokenizer
from data.tokenizers.wordpiece_py import WordPieceEncoder
from models.export.runtimes import open_model


def load_tokenizer(folder: Path, kind: str) -> Any:
    """Every tokenizer reads only vocab.txt (line number = token id) and tokenizer.json."""
    if kind == "wordpiece":
        return WordPieceEncoder.from_dir(folder)  # the pure-Python twin of the training tokenizer
    lines, config = read_saved(folder)
    if kind == "word_features":  # pure Python already: a word's form, affixes and shape looked up
        return WordFeatureTokenizer.from_saved(lines, config)
    if kind == "ngrams":  # pure Python already: word and character n-grams looked up, with count tokens
        return NgramTokenizer.from_saved(lines, config)
    # Char: one character per line; whitespace and invisible characters are written as \uXXXX.
    return CharTokenizer.from_saved(lines, config)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - np.max(logits))  # minus the max: exp cannot overflow
    return z / z.sum()


def choose_token(logits: np.ndarray, temperature: float, top_k: int, rng: np.random.Generator) -> int:
    """Greedy when temperature <= 0; else sample from softmax(logits / temperature), optionally top-k only."""
    if temperature <= 0:
        return int(np.argmax(logits))
    logits = logits.astype(np.float64) / temperature
    if 0 < top_k < len(logits):
        kth_largest = np.sort(logits)[-top_k]
        logits = np.where(logits < kth_largest, -np.inf, logits)
    return int(rng.choice(len(logits), p=softmax(logits)))


class Bundle:
    """An exported bundle (folder or zip) ready to classify or generate."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix == ".zip":  # the zip holds the same files at its root
            self._unzipped = tempfile.TemporaryDirectory(prefix="textlab-bundle-")
            with zipfile.ZipFile(path) as archive:
                archive.extractall(self._unzipped.name)
            path = Path(self._unzipped.name)
        self.meta = json.loads((path / "metadata.json").read_text(encoding="utf-8"))
        self.task = self.meta["task"]
        # What the app does with it; bundles written before "interface" existed say it by their signatures.
        self.interface = self.meta.get("interface") or (
            "classify" if "classify" in self.meta["signatures"] else "generate"
        )
        self.seq_len = int(self.meta["sequence_length"])
        self.pad, self.bos, self.eos, self.unk = (
            self.meta["special_tokens"][k] for k in ("pad", "bos", "eos", "unk")
        )
        self.tokenizer = load_tokenizer(path, self.meta["preprocessing"]["tokenizer"])
        labels = path / "labels.txt"
        self.labels = labels.read_text(encoding="utf-8").splitlines() if labels.exists() else []
        # A CRF tagger's transitions and O shift: its logits are emissions, decoded from the tag marginals.
        decoding = self.meta.get("decoding")
        self.chain = ChainDecoding.from_json(decoding) if decoding else None
        # model.tflite in a plain LiteRT interpreter (no Flex delegate, builtin ops only); model.onnx in
        # onnxruntime. Either way a signature is called with named inputs and gives named outputs.
        self.model = open_model(path / self.meta["files"]["model"])

    def window(self, ids: list[int]) -> np.ndarray:
        """[1, seq_len] int32: ``ids`` (at most seq_len of them) followed by [PAD]."""
        row = np.full((1, self.seq_len), self.pad, dtype=np.int32)
        row[0, : len(ids)] = ids
        return row

    def classify(self, text: str) -> dict[str, float]:
        """Label -> probability, most likely first."""
        ids = ([self.bos] + self.tokenizer.encode(text))[: self.seq_len]  # too long: keep the beginning
        logits = self.model.signature("classify")(token_ids=self.window(ids))["logits"][0]
        ranked = sorted(zip(self.labels, softmax(logits).tolist(), strict=True), key=lambda pair: -pair[1])
        return dict(ranked)

    def tag(self, text: str) -> list[tuple[str, str]]:
        """(word, tag) for every whitespace-separated word of ``text``, the tags BIO-valid."""
        runner = self.model.signature("tag")
        words, sep = text.split(), self.tokenizer.encode(" ")
        (encoded,) = self.tokenizer.encode_words([words])  # each word's ids (and its neighbours', if read)
        tagged: list[tuple[str, str]] = []
        while len(tagged) < len(words):
            ids, firsts = [self.bos], []
            for pieces in encoded[len(tagged) :]:
                gap = sep if firsts else []
                if len(ids) + len(gap) >= self.seq_len:  # this word's first piece would not fit: next window
                    break
                firsts.append(len(ids) + len(gap))
                ids += gap + (pieces or [self.unk])
            logits = runner(token_ids=self.window(ids[: self.seq_len]))["logits"][0]
            tags = decode_tags(logits[firsts], self.labels, self.chain)
            tagged += zip(words[len(tagged) : len(tagged) + len(firsts)], tags, strict=True)
        return tagged

    def generate(
        self,
        prompt: str,
        max_tokens: int = 50,
        temperature: float = 0.8,
        top_k: int = 0,
        seed: int | None = None,
    ) -> Iterator[str]:
        """Yield the continuation of ``prompt`` piece by piece."""
        step = self.model.signature("next_token")
        rng = np.random.default_rng(seed)
        tokens = [self.bos] + self.tokenizer.encode(prompt)
        start, shown = len(tokens), ""
        for _ in range(max_tokens):
            context = tokens[-self.seq_len :]  # sliding window: the most recent seq_len tokens
            position = np.array([len(context) - 1], dtype=np.int32)  # the logits there predict the next token
            logits = step(token_ids=self.window(context), position=position)["logits"][0]
            token = choose_token(logits, temperature, top_k, rng)
            if token == self.eos:
                break
            tokens.append(token)
            # Decode the whole continuation: a WordPiece "##" piece changes how the previous word reads.
            text = self.tokenizer.decode(tokens[start:])
            yield text[len(shown) :]
            shown = text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run an exported keras-textlab bundle with LiteRT or onnxruntime."
    )
    parser.add_argument("bundle", help="bundle folder or .zip")
    parser.add_argument("--text", action="append", help="text to classify or tag (repeatable)")
    parser.add_argument("--prompt", help="prompt to continue (causal LM bundles)")
    parser.add_argument("--max-tokens", type=int, default=50)
    parser.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    parser.add_argument("--top-k", type=int, default=0, help="0 = all tokens")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)

    bundle = Bundle(args.bundle)
    if bundle.interface == "classify" and args.text:
        for text in args.text:
            probs = bundle.classify(text)
            print(f"{text!r}: " + ", ".join(f"{label}={p:.3f}" for label, p in probs.items()))
        return 0
    if bundle.interface == "tag" and args.text:
        for text in args.text:
            print(" ".join(f"{word}/{tag}" for word, tag in bundle.tag(text)))
        return 0
    if bundle.interface == "generate" and args.prompt is not None:
        sys.stdout.write(args.prompt)
        for piece in bundle.generate(args.prompt, args.max_tokens, args.temperature, args.top_k, args.seed):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return 0
    need = "--prompt" if bundle.interface == "generate" else "--text"
    print(f'error: this bundle holds a {bundle.task} model; pass {need} "..."', file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
