"""metadata.json of a bundle: what an app needs to feed the model and read its outputs, and where it came from."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import tomllib
from pathlib import Path
from typing import Any

from data import special_tokens as st
from data.config import WORD_SLOTS
from models import tasks
from models.config import RunConfig
from models.decoding import NEVER_SAMPLED, default_keep
from models.export.quantizations import ONNX, TFLITE

FORMAT = "keras-textlab-bundle"
FORMAT_VERSION = 1
MODEL_FILE = "model.tflite"
MODEL_FILES = {TFLITE: MODEL_FILE, ONNX: "model.onnx"}
VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"
LABELS_FILE = "labels.txt"
METADATA_FILE = "metadata.json"
REPORT_FILE = "report.json"


def textlab_version() -> str:
    """The installed package version, or pyproject.toml's when running from a source checkout."""
    try:
        return importlib.metadata.version("keras-textlab")
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def build_metadata(
    *,
    run_id: str,
    config: RunConfig,
    tokenizer_config: dict[str, Any],
    labels: list[str] | None,
    quantization: str,
    signatures: dict[str, Any],
    flex_ops: list[str],
    source_model: str,
    chain: dict[str, Any] | None = None,
    model_file: str = MODEL_FILE,
) -> dict[str, Any]:
    """Everything except the model itself; the runner (run_bundle.py) reads only this and the tokenizer files.

    ``chain``: a CRF tagger's decoding (data.bio_decoding.ChainDecoding.to_json), written as "decoding";
    ``model_file``: the model's name in the bundle, model.tflite or model.onnx."""
    seq_len = config.model.seq_len
    interface = tasks.get(config.task).interface
    metadata: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "task": config.task,
        "interface": interface,  # what the app does with it: "classify", "generate" or "tag"
        "model_kind": config.model.kind,
        "files": {
            "model": model_file,
            "vocab": VOCAB_FILE,
            "tokenizer": TOKENIZER_FILE,
            **({"labels": LABELS_FILE} if labels is not None else {}),
        },
        "signatures": signatures,
        "sequence_length": seq_len,
        "vocab_size": int(tokenizer_config.get("vocab_size", config.model.vocab_size)),
        "special_tokens": {"pad": st.PAD, "unk": st.UNK, "bos": st.BOS, "eos": st.EOS, "mask": st.MASK},
        "preprocessing": _preprocessing(interface, tokenizer_config, seq_len),
        "quantization": quantization,
        "flex_ops": flex_ops,
        "source_run": run_id,
        "source_model": source_model,
        "keras_textlab_version": textlab_version(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if labels is not None:
        metadata["labels"] = labels
    if model_file == MODEL_FILES[ONNX]:
        metadata["onnx_graph"] = (
            "one graph holds every signature: feed the inputs a signature lists (zeros for the graph's other "
            "inputs) and fetch its outputs; onnxruntime's RunOptions.only_execute_path_to_fetches skips the "
            "other signatures' work"
        )
    if chain is not None:
        metadata["decoding"] = {
            **chain,
            "how": "the logits are a linear-chain CRF's emissions: forward-backward over them and "
            "transitions[i][j] (tag j right after tag i) gives each word's tag log-marginals; subtract "
            "outside_bias from the O tag's; then the BIO-constrained Viterbi (data/bio_decoding.py)",
        }
    if interface == tasks.GENERATE:
        keep = default_keep(seq_len)
        metadata["generation"] = {
            "signature": "next_token",
            "window": f"[BOS] + prompt + generated tokens, at most the last {seq_len}; when a token would make it "
            f"{seq_len + 1}, the window restarts on the newest context_keep tokens and grows again "
            "(models/decoding.py ContextWindow)",
            "context_keep": keep,
            "position": "index of the last real token in the window; the logits there predict the next token",
            "never_sampled": NEVER_SAMPLED,
            "stop_token_id": st.EOS,
        }
        if "decode" in signatures:
            metadata["generation"]["kv_cache"] = (
                "prefill(token_ids = the window padded, length = its real tokens) when the window starts or "
                "restarts, then decode(token_id, position = its index in the window, keys_0, values_0, ...) for "
                "each new token, passing each call's outputs other than logits (the per-layer keys and values) "
                "to the next under the same names: same logits as next_token, one token's work"
            )
    return metadata


def _preprocessing(interface: str | None, tokenizer_config: dict[str, Any], seq_len: int) -> dict[str, Any]:
    """The input rules of data.pipelines, spelled out for a reimplementation."""
    kind = tokenizer_config.get("kind", "char")
    rules: dict[str, Any] = {
        "tokenizer": kind,
        "lowercase": bool(tokenizer_config.get("lowercase", False)),
        "prepend_bos": True,
        "append_eos": False,
        "pad_id": st.PAD,
        "padding": "right",
        "unknown_id": st.UNK,
    }
    if kind == "char":
        rules["vocab_escape"] = (
            "whitespace/invisible characters appear in vocab.txt as \\uXXXX or \\UXXXXXXXX"
        )
    elif kind == "word_features":
        slots = tokenizer_config.get("slots", list(WORD_SLOTS))
        rules["word_features"] = (
            f"split on whitespace; each word gives one id per slot of {slots}, in that order, the vocab.txt "
            "lines 'w:<word lowercased>', "
            "'p:<first 3 characters, lowercased>', 's:<last 3 characters, lowercased>', 'x:<shape>' (capitals X, "
            "small letters x, digits d, uncased letters L, others kept, runs collapsed, at most 8), "
            "'p1:' / 'p2:' / 'p4:' and 's1:' / 's2:' / 's4:' the first and last 1, 2, 4 characters, "
            "'b:<word lowercased>|<next word lowercased>' ('b:<word>|' for the last word of the text), each "
            "missing one replaced by its slot's 'w:?' / 'p:?' / 's:?' / 'x:?' (data/tokenizers/word_features.py)"
        )
    else:
        rules["wordpiece"] = (
            "see data/tokenizers/wordpiece_py.py: normalize, split on whitespace/punctuation, longest match"
        )
    if interface == tasks.CLASSIFY:
        rules["truncation"] = f"keep the first {seq_len - 1} tokens after [BOS]; pad to {seq_len}"
        rules["output"] = "logits [1, num_classes]; softmax gives label probabilities in labels.txt order"
    elif interface == tasks.TAG:
        rules["words"] = (
            "split the text on whitespace; encode each word on its own ([UNK] if it encodes to nothing) and "
            "lay the pieces out as [BOS] w1 sep w2 sep w3 ..., where sep is what a space encodes to "
            "(nothing for WordPiece and word features, the space character for the char tokenizer)"
        )
        rules["truncation"] = (
            f"stop before the first word whose first piece would not fit in {seq_len} tokens; pad to "
            f"{seq_len}; tag the remaining words in the next window"
        )
        rules["output"] = (
            "tag: logits [1, seq_len, num_tags]; read each word at its first piece; decode the words' "
            'log-softmax (a CRF\'s log-marginals where metadata has "decoding") with Viterbi, I-x allowed '
            "only after B-x or I-x (data/bio_decoding.py); tags in labels.txt order"
        )
    else:
        rules["truncation"] = f"keep the last {seq_len} tokens (drop from the left); pad to {seq_len}"
        rules["output"] = "next_token: logits [1, vocab] at `position`; score: logits [1, seq_len, vocab]"
    return rules
