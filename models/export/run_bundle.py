"""Reference runner for an exported bundle: numpy + LiteRT (model.tflite) or onnxruntime (model.onnx) + a
pure-Python tokenizer.

This is the file to port to an app (with runtimes.py, one call per signature in either runtime). It imports
neither TensorFlow nor Keras, and does what an app does, the same for both model formats:

  classify:  [BOS] + token ids of the text, cut to seq_len, padded with [PAD]
             -> signature "classify" -> logits [1, classes] -> softmax -> labels.txt order
  generate:  [BOS] + token ids of the prompt; then repeatedly: the context window (models/decoding.py:
             at most seq_len tokens; when full, it restarts on its newest `context_keep`)
             -> with a key/value cache (signatures "prefill" and "decode"): "prefill" the window when it
                starts or moves, else "decode" the one new token at its position, passing every output
                but the logits (keys_0, values_0, ...: the cache) back in under its own name;
                without: signature "next_token" on the padded window at the last real position
             -> logits [1, vocab] -> never [PAD]/[UNK]/[BOS]/[MASK] -> greedy / temperature / top-k / top-p
             choice -> append; stop at [EOS] or after max tokens
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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from data.bio_decoding import ChainDecoding, decode_tags
from data.tokenizers.base import read_saved
from data.tokenizers.char import CharTokenizer
from data.tokenizers.ngrams import NgramTokenizer
from data.tokenizers.word_features import WordFeatureTokenizer
from data.tokenizers.wordpiece_py import WordPieceEncoder
from models.decoding import NEVER_SAMPLED, ContextWindow, choose_token, default_keep
from models.export.runtimes import Runtime, open_model


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


def padded_window(ids: Sequence[int], seq_len: int, pad: int) -> np.ndarray:
    """[1, seq_len] int32: ``ids`` (at most seq_len of them) followed by ``pad``."""
    row = np.full((1, seq_len), pad, dtype=np.int32)
    row[0, : len(ids)] = ids
    return row


def next_logits(
    model: Runtime, seq_len: int, keep: int, pad: int, kv_cache: bool
) -> Callable[[Sequence[int]], np.ndarray]:
    """tokens -> float32 logits [vocab] for the token after them, for one generation (a token list that grows).

    With ``kv_cache`` the model keeps keys/values: "prefill" when the context window starts or moves, then one
    "decode" per token, whose cost grows only with the attention over the cache; without, "next_token" on the
    whole window.
    """
    window = ContextWindow(seq_len, keep)

    if not kv_cache:
        step = model.signature("next_token")

        def whole_window(tokens: Sequence[int]) -> np.ndarray:
            context = window.context(tokens)
            position = np.array([len(context) - 1], dtype=np.int32)  # the logits there predict the next token
            return step(token_ids=padded_window(context, seq_len, pad), position=position)["logits"][0]

        return whole_window
    prefill, decode = model.signature("prefill"), model.signature("decode")
    held: dict[str, Any] = {"context": [], "cache": None}  # the context whose keys/values "cache" holds

    def cached(tokens: Sequence[int]) -> np.ndarray:
        context = window.context(tokens)
        if held["cache"] is not None and context[:-1] == held["context"]:
            out = decode(
                token_id=np.array([context[-1:]], dtype=np.int32),
                position=np.array([len(context) - 1], dtype=np.int32),
                **held["cache"],
            )
        else:
            out = prefill(
                token_ids=padded_window(context, seq_len, pad),
                length=np.array([len(context)], dtype=np.int32),
            )
        # Every output but the logits is cache (keys_0, values_0, ...): each goes back in under its name.
        held["context"], held["cache"] = context, {k: v for k, v in out.items() if k != "logits"}
        return out["logits"][0]

    return cached


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
        return padded_window(ids, self.seq_len, self.pad)

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
        top_p: float = 1.0,
        kv_cache: bool | None = None,
    ) -> Iterator[str]:
        """Yield the continuation of ``prompt`` piece by piece; over the key/value cache when the bundle has one
        (``kv_cache`` None) or as asked (False: next_token on the whole window, the same tokens)."""
        generation = self.meta.get("generation", {})
        keep = int(generation.get("context_keep", default_keep(self.seq_len)))
        never = generation.get("never_sampled", NEVER_SAMPLED)
        if kv_cache is None:
            kv_cache = {"prefill", "decode"} <= set(self.meta["signatures"])
        logits_after = next_logits(self.model, self.seq_len, keep, self.pad, kv_cache)
        rng = np.random.default_rng(seed)
        tokens = [self.bos] + self.tokenizer.encode(prompt)
        start, shown = len(tokens), ""
        for _ in range(max_tokens):
            logits = np.array(logits_after(tokens), dtype=np.float32)
            logits[never] = -np.inf
            token = choose_token(logits, temperature, top_k, rng, top_p)
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
    parser.add_argument("--top-p", type=float, default=1.0, help="1.0 = all tokens")
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
        for piece in bundle.generate(
            args.prompt, args.max_tokens, args.temperature, args.top_k, args.seed, args.top_p
        ):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")
        return 0
    need = "--prompt" if bundle.interface == "generate" else "--text"
    print(f'error: this bundle holds a {bundle.task} model; pass {need} "..."', file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
