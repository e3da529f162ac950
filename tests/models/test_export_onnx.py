"""ONNX export: tiny runs of each interface exported to ONNX, checked in onnxruntime and the reference runner."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from data.errors import DataError
from models.config import RunConfig
from models.export import export_run
from models.export.run_bundle import Bundle
from tests.conftest import make_corpus, make_names_conll, make_sentiment_csv, run_bundle_without_frameworks
from tests.models.test_export import TEXTS, tiny_config

if keras.backend.backend() != "tensorflow":
    pytest.skip("export runs on the TensorFlow backend only", allow_module_level=True)

ONNX_FILES = {"model.onnx", "vocab.txt", "tokenizer.json", "metadata.json", "report.json"}


def _trained(tmp_path_factory: pytest.TempPathFactory, task: str, kind: str, tokenizer: str) -> object:
    """A few-step run of ``task`` trained by the engine (taggers on names, classifiers on sentiment)."""
    from models.engine.train import train

    folder = tmp_path_factory.mktemp(f"onnx-{task}-{kind}")
    if task == "token_classifier":
        config = RunConfig(task=task, backend="tensorflow", workspace=str(folder / "ws"), name=kind)
        config.data.path = str(make_names_conll(folder / "names.conll", sentences=160))
        config.tokenizer.kind, config.tokenizer.lowercase = tokenizer, False
        config.model.kind, config.model.preset, config.model.seq_len = kind, None, 40
    else:
        make = make_sentiment_csv if task == "classifier" else make_corpus
        data = make(folder / ("s.csv" if task == "classifier" else "c.txt"))
        config = tiny_config(folder / "ws", data, task, kind, tokenizer)
        config.train.epochs, config.train.max_steps = 1, (None if task == "classifier" else 20)
    run = train(config)
    assert run.status()["state"] == "completed", run.status()
    return run


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    run = _trained(tmp_path_factory, "classifier", "lstm", "wordpiece")
    return run, export_run(run, fmt="onnx")


@pytest.fixture(scope="module")
def language_model(tmp_path_factory):
    run = _trained(tmp_path_factory, "causal_lm", "transformer", "char")  # GELU: tf2onnx's missing Erfc
    return run, export_run(run, fmt="onnx")


def test_classifier_bundle_agrees_with_keras_in_onnxruntime(classifier):
    run, report = classifier
    v = report.verification
    assert report.format == "onnx" and report.quantization == "float32"
    assert v["source"] == "held-out split" and v["examples"] >= 10, v
    assert v["top1_agreement"] == 1.0 and v["max_abs_logit_diff"] < 1e-4, v
    assert v["onnxruntime_accuracy"] == v["keras_accuracy"] and v["onnxruntime_ms_per_call"]["classify"] > 0
    folder, zip_path = run.exports_dir / "onnx-float32", run.exports_dir / f"{run.id}-onnx-float32.zip"
    assert Path(report.bundle_dir) == folder and Path(report.zip_path) == zip_path
    assert {p.name for p in folder.iterdir()} == ONNX_FILES | {"labels.txt"} == set(report.files)
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.read("model.onnx") == (folder / "model.onnx").read_bytes()
    assert report.model_bytes == (folder / "model.onnx").stat().st_size and report.tflite_bytes == 0
    meta = json.loads((folder / "metadata.json").read_text())
    seq_len = run.config().model.seq_len
    assert meta["files"]["model"] == "model.onnx" and meta["quantization"] == "float32"
    assert meta["signatures"] == {
        "classify": {
            "inputs": [{"name": "token_ids", "shape": [1, seq_len], "dtype": "int32"}],
            "outputs": [{"name": "logits", "shape": [1, len(run.labels())], "dtype": "float32"}],
        }
    }
    saved = json.loads((folder / "report.json").read_text())
    assert saved["format"] == "onnx" and "tflite_bytes" not in saved


def test_tflite_beside_onnx_gives_the_same_probabilities(classifier):
    run, _ = classifier
    lite = export_run(run, "float32", max_examples=16)  # the default format, through the same exporter
    assert lite.format == "tflite" and lite.tflite_bytes == lite.model_bytes > 0
    # Readers of report.json from before ONNX (bench/distillation.py) still find the TFLite size.
    assert (
        json.loads((run.exports_dir / "float32" / "report.json").read_text())["tflite_bytes"]
        == lite.model_bytes
    )
    assert lite.verification["top1_agreement"] == 1.0 and "litert_ms_per_call" in lite.verification
    assert {"float32", "onnx-float32"} <= {p.name for p in run.exports_dir.iterdir()}
    tflite, onnx = Bundle(run.exports_dir / "float32"), Bundle(run.exports_dir / "onnx-float32")
    for text in TEXTS:
        a, b = tflite.classify(text), onnx.classify(text)
        assert list(a) == list(b) and max(abs(a[k] - b[k]) for k in a) < 1e-5


def test_onnx_graph_is_standard_onnx(classifier):
    import onnx

    run, report = classifier
    model = onnx.load(str(run.exports_dir / "onnx-float32" / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert "Loop" in report.operators  # the LSTM's time loop: its body's ops are checked too
    assert all(onnx.defs.has(op) for op in report.operators) and report.builtin_ops_only


def test_runner_classifies_an_onnx_bundle_like_keras(classifier):
    from models.engine.inference import classify, load_run

    run, _ = classifier
    loaded = load_run(run)
    from_dir, from_zip = (
        Bundle(run.exports_dir / "onnx-float32"),
        Bundle(run.exports_dir / f"{run.id}-onnx-float32.zip"),
    )
    for text, keras_probs in zip(TEXTS, classify(loaded, TEXTS), strict=True):
        probs = from_dir.classify(text)
        assert list(probs) == list(keras_probs)
        assert max(abs(probs[k] - keras_probs[k]) for k in keras_probs) < 1e-5
        assert from_zip.classify(text) == probs
    done = run_bundle_without_frameworks(
        [str(run.exports_dir / f"{run.id}-onnx-float32.zip"), "--text", TEXTS[0]]
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(repr(TEXTS[0])) and done.stdout.rstrip().endswith("HEAVY []")


def test_language_model_next_token_logits_match_keras(language_model):
    run, report = language_model
    v = report.verification
    assert v["source"] == "held-out split" and v["top1_agreement"] >= 0.999, v
    assert v["max_abs_logit_diff"] < 1e-4 and v["next_token_max_abs_logit_diff"] < 1e-4, v
    assert v["perplexity_relative_diff"] < 1e-5 and set(v["onnxruntime_ms_per_call"]) == {
        "next_token",
        "score",
    }
    meta = json.loads((run.exports_dir / "onnx-float32" / "metadata.json").read_text())
    seq_len, vocab = run.config().model.seq_len, run.config().model.vocab_size
    token_ids = {"name": "token_ids", "shape": [1, seq_len], "dtype": "int32"}
    assert meta["signatures"] == {
        "next_token": {
            "inputs": [{"name": "position", "shape": [1], "dtype": "int32"}, token_ids],
            "outputs": [{"name": "next_token_logits", "shape": [1, vocab], "dtype": "float32"}],
        },
        "score": {
            "inputs": [token_ids],
            "outputs": [{"name": "score_logits", "shape": [1, seq_len, vocab], "dtype": "float32"}],
        },
    }
    assert "onnx_graph" in meta and meta["generation"]["signature"] == "next_token"

    # The bundle's own graph, called as the runner calls it, against the Keras model's logits.
    from models.engine.inference import load_run

    loaded = load_run(run)
    ids = np.random.default_rng(1).integers(5, vocab, size=(3, seq_len)).astype(np.int32)
    reference = keras.ops.convert_to_numpy(loaded.model(ids, training=False))
    step = Bundle(run.exports_dir / "onnx-float32").model.signature("next_token")
    for i, position in enumerate((0, seq_len // 2, seq_len - 1)):
        logits = step(token_ids=ids[i][None], position=np.array([position], np.int32))["logits"][0]
        assert np.abs(logits - reference[i, position]).max() < 1e-4


def test_runner_generates_from_an_onnx_bundle_like_keras(language_model):
    from models.engine.inference import generate, load_run

    run, _ = language_model
    prompt = "The movie "
    keras_text = generate(load_run(run), prompt, max_new_tokens=20, temperature=0)
    onnx_text = "".join(
        Bundle(run.exports_dir / "onnx-float32").generate(prompt, max_tokens=20, temperature=0)
    )
    assert onnx_text == keras_text and onnx_text


def test_tagger_onnx_bundle_tags_like_keras(tmp_path_factory):
    from models.engine.inference import load_run, tag

    run = _trained(tmp_path_factory, "token_classifier", "crf", "word_features")
    report = export_run(run, fmt="onnx")
    v = report.verification
    assert v["tag_agreement"] == 1.0 and v["max_abs_logit_diff"] < 1e-4, v
    bundle, loaded = Bundle(report.zip_path), load_run(run)
    for text in ("we saw Hana Larsen in Riga", "Kofi Tanaka flew to Osaka today " * 4):
        assert bundle.tag(text) == tag(loaded, text)


def test_cli_exports_onnx_and_refuses_smaller_weights(classifier, capsys):
    from app.cli import main

    run, _ = classifier
    workspace = str(run.path.parent.parent)
    assert main(["--workspace", workspace, "export", run.id, "--format", "onnx", "--max-examples", "8"]) == 0
    out = capsys.readouterr().out
    assert f"float32: {run.exports_dir / f'{run.id}-onnx-float32.zip'}" in out and "model.onnx" in out
    assert '"top1_agreement": 1.0' in out
    report = json.loads((run.exports_dir / "onnx-float32" / "report.json").read_text())
    assert report["verification"]["examples"] == 8
    assert (
        main(["--workspace", workspace, "export", run.id, "--format", "onnx", "--quantization", "int8"]) == 2
    )
    assert "ONNX export writes float32 weights only, not int8" in capsys.readouterr().err


def test_failed_onnx_export_keeps_the_previous_bundle(classifier, monkeypatch):
    from models.export import onnx_convert

    run, _ = classifier
    folder = run.exports_dir / "onnx-float32"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def refused(endpoints):
        raise DataError("the model uses TensorFlow ops that tf2onnx cannot write as ONNX: Lgamma.")

    monkeypatch.setattr(onnx_convert, "convert_onnx", refused)
    with pytest.raises(DataError, match="Lgamma"):
        export_run(run, fmt="onnx")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not [p.name for p in run.exports_dir.iterdir() if p.name.startswith(".")]


def test_erfc_is_converted_and_ops_without_onnx_form_are_refused(tmp_path):
    import tensorflow as tf

    from models.export.graph import Endpoint
    from models.export.onnx_convert import convert_onnx
    from models.export.runtimes import OnnxRuntime

    spec = [tf.TensorSpec([1, 8], tf.float32, name="x")]
    converted = convert_onnx({"erfc": Endpoint(lambda x: {"y": tf.math.erfc(x)}, spec)})
    assert converted.operators == ["Erf", "Sub"]
    (tmp_path / "erfc.onnx").write_bytes(converted.content)
    x = np.linspace(-3, 3, 8, dtype=np.float32)[None]
    y = OnnxRuntime(tmp_path / "erfc.onnx").signature("erfc")(x=x)["y"]
    assert np.abs(y - tf.math.erfc(x).numpy()).max() < 1e-6
    with pytest.raises(DataError, match="cannot write as ONNX: Lgamma") as caught:
        convert_onnx({"lgamma": Endpoint(lambda x: {"y": tf.math.lgamma(x)}, spec)})
    assert "TFLite" in str(caught.value)


def test_onnx_export_is_float32_only_and_formats_are_checked():
    from models.export.convert import check_quantization

    check_quantization("float32", "onnx")
    with pytest.raises(DataError, match="ONNX export writes float32 weights only, not float16"):
        check_quantization("float16", "onnx")
    with pytest.raises(DataError, match="unknown export format 'coreml'"):
        check_quantization("float32", "coreml")


def test_export_tab_offers_onnx_and_shows_its_bundle(classifier, tmp_path):
    from app.ui.server import build_app

    run, report = classifier
    fns = [f.fn for f in build_app(str(tmp_path / "ws")).fns.values() if f.fn]
    callbacks = {fn.__name__: fn for fn in fns if fn.__module__ == "app.ui.export_tab"}
    assert callbacks["on_format"]("onnx", "int8") == {
        "__type__": "update",
        "choices": ["float32"],
        "value": "float32",
    }
    assert callbacks["on_format"]("tflite", "float32")["choices"] == ["float32", "float16", "int8"]
    shown, zip_path = callbacks["on_run"](str(run.path), "onnx", "float32")
    assert zip_path == report.zip_path and "ONNX model:" in shown and "top1 agreement" in shown.lower()
