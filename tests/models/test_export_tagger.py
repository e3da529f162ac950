"""TFLite export of a token tagger: LiteRT agreement at every quantization, metadata, and the runner's tags."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pytest

from data.tokenizers.word_features import SLOTS as CRF_SLOTS
from models.config import RunConfig
from models.export import QUANTIZATIONS, export_runs
from models.export.run_bundle import Bundle
from tests.conftest import make_names_conll, run_bundle_without_frameworks

if keras.backend.backend() != "tensorflow":
    pytest.skip("TFLite export runs on the TensorFlow backend only", allow_module_level=True)

# Longer than the 40-token window, so the runner tags it in several windows.
TEXTS = ["we saw Hana Larsen in Riga", "Kofi Tanaka flew to Osaka today " * 4]


@pytest.fixture(
    scope="module",
    params=[("lstm", "word_features"), ("transformer", "char"), ("crf", "word_features")],
    ids=lambda p: "-".join(p),
)
def exported(request, tmp_path_factory):
    """A tagger trained by the engine and exported at every quantization: (run, {quantization: report})."""
    from models.engine.train import train

    kind, tokenizer = request.param
    folder = tmp_path_factory.mktemp(f"tagger-{kind}")
    config = RunConfig(task="token_classifier", backend="tensorflow", workspace=str(folder / "ws"), name=kind)
    config.data.path = str(make_names_conll(folder / "names.conll", sentences=240))
    config.tokenizer.kind, config.tokenizer.vocab_size, config.tokenizer.lowercase = tokenizer, 200, False
    m = config.model
    m.kind, m.preset, m.hidden_dim, m.num_layers, m.num_heads, m.intermediate_dim = kind, None, 32, 1, 2, 64
    m.bidirectional, m.seq_len = True, 40
    if kind == "crf":  # the recipe's slots, the bigram ("b": read across words and windows) among them
        config.tokenizer.word_slots = list(CRF_SLOTS)
        m.seq_len = 1 + 8 * len(CRF_SLOTS)  # 8 words a window: the second text takes three
    t = config.train
    t.epochs, t.batch_size, t.learning_rate, t.warmup_ratio, t.log_every = 4, 16, 3e-3, 0.0, 5
    run = train(config)
    assert run.status()["state"] == "completed", run.status()
    return run, {r.quantization: r for r in export_runs(run, QUANTIZATIONS)}


@pytest.mark.slow
def test_tagger_bundle_agrees_with_keras_in_litert(exported):
    run, reports = exported
    tags = run.labels()
    for quantization, report in reports.items():
        v = report.verification
        assert v["source"] == "held-out split" and v["words"] >= 100, v
        assert report.flex_ops == [] and not any(op.startswith("Flex") for op in report.operators)
        assert v["tag_agreement"] >= (0.97 if quantization == "int8" else 0.99), (quantization, v)
        assert v["litert_word_accuracy"] >= v["keras_word_accuracy"] - 0.03, v
        if quantization == "float32":
            assert v["max_abs_logit_diff"] < 1e-3, v
        folder = Path(report.bundle_dir)
        meta = json.loads((folder / "metadata.json").read_text())
        assert meta["interface"] == "tag" and meta["labels"] == tags
        # A CRF's logits are emissions: its transitions and O shift travel in the metadata.
        assert ("decoding" in meta) == (meta["model_kind"] == "crf")
        assert (folder / "labels.txt").read_text().splitlines() == tags
        seq_len = meta["sequence_length"]
        assert meta["signatures"] == {
            "tag": {
                "inputs": [{"name": "token_ids", "shape": [1, seq_len], "dtype": "int32"}],
                "outputs": [{"name": "logits", "shape": [1, seq_len, len(tags)], "dtype": "float32"}],
            }
        }
        assert "Viterbi" in meta["preprocessing"]["output"] and "sep" in meta["preprocessing"]["words"]
        kind = meta["preprocessing"]["tokenizer"]
        assert kind == run.config().tokenizer.kind and (
            kind != "word_features" or "'x:?'" in meta["preprocessing"][kind]
        )


@pytest.mark.slow
def test_runner_tags_like_keras_inference_without_tensorflow(exported):
    from models.engine.inference import load_run, tag

    run, _ = exported
    loaded = load_run(run)
    bundle = Bundle(run.exports_dir / f"{run.id}-float32.zip")
    for text in TEXTS:
        assert bundle.tag(text) == tag(loaded, text)  # same words, same BIO-decoded tags
    assert len(bundle.tag(TEXTS[1])) == len(TEXTS[1].split())
    done = run_bundle_without_frameworks([str(run.exports_dir / f"{run.id}-int8.zip"), "--text", TEXTS[0]])
    assert done.returncode == 0, done.stderr
    first, heavy = done.stdout.strip().splitlines()
    assert heavy == "HEAVY []" and [pair.split("/")[0] for pair in first.split()] == TEXTS[0].split()
