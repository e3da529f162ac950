"""TFLite export: real runs exported at every quantization, checked in the LiteRT interpreter and the runner."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from data.errors import DataError
from models.config import RunConfig
from models.export import QUANTIZATIONS, export_run, export_runs
from models.export.artifacts import artifacts
from models.export.run_bundle import Bundle
from models.run_dir import RunDir
from tests.conftest import make_corpus, make_sentiment_csv, run_bundle_without_frameworks

if keras.backend.backend() != "tensorflow":
    pytest.skip("TFLite export runs on the TensorFlow backend only", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["the movie was excellent and lovely", "a terrible and boring plot", "really quite happy film"]
BUNDLE_FILES = {"model.tflite", "vocab.txt", "tokenizer.json", "metadata.json", "report.json"}

# (task, model kind, tokenizer): both tasks, every model kind they build, and the tokenizers they use.
CASES = [
    ("classifier", "transformer", "wordpiece"),
    ("classifier", "lstm", "char"),
    ("classifier", "bag", "wordpiece"),
    ("classifier", "linear", "ngrams"),
    ("classifier", "hashed", "ngrams"),
    ("causal_lm", "transformer", "char"),
    ("causal_lm", "lstm", "wordpiece"),
]


def tiny_config(workspace: Path, data: Path, task: str, kind: str, tokenizer: str) -> RunConfig:
    config = RunConfig(task=task, backend="tensorflow", workspace=str(workspace), name=f"{task}-{kind}")
    config.data.path = str(data)
    config.tokenizer.kind = tokenizer
    config.tokenizer.vocab_size = 200
    m = config.model
    m.kind, m.preset, m.hidden_dim, m.num_layers, m.num_heads, m.intermediate_dim = kind, None, 32, 1, 2, 64
    m.seq_len = 64 if tokenizer == "char" and task == "classifier" else 32  # keep the class word in view
    if tokenizer == "ngrams":  # a text's distinct word and character n-grams
        m.seq_len = 256
    t = config.train
    t.batch_size, t.learning_rate, t.warmup_ratio, t.log_every = 16, 3e-3, 0.0, 5
    t.epochs, t.max_steps = (2, None) if task == "classifier" else (1, 30)
    return config


@pytest.fixture(scope="module", params=CASES, ids=["-".join(case) for case in CASES])
def exported(request, tmp_path_factory):
    """A run trained by the engine, exported at every quantization: (run, {quantization: report})."""
    from models.engine.train import train

    task, kind, tokenizer = request.param
    folder = tmp_path_factory.mktemp(f"{task}-{kind}")
    data = make_sentiment_csv(folder / "s.csv") if task == "classifier" else make_corpus(folder / "c.txt")
    run = train(tiny_config(folder / "ws", data, task, kind, tokenizer))
    assert run.status()["state"] == "completed", run.status()
    reports = export_runs(run, QUANTIZATIONS)
    return run, {r.quantization: r for r in reports}


@pytest.mark.slow
def test_litert_agrees_with_keras_at_every_quantization(exported):
    run, reports = exported
    task = run.config().task
    for quantization, report in reports.items():
        v = report.verification
        assert v["source"] == "held-out split" and v["examples"] >= 10, v
        assert report.flex_ops == [] and not any(op.startswith("Flex") for op in report.operators)
        if task == "classifier":
            assert v["top1_agreement"] >= (0.97 if quantization == "int8" else 0.99), (quantization, v)
            assert v["litert_accuracy"] >= v["keras_accuracy"] - 0.05
        else:
            assert v["perplexity_relative_diff"] < (0.03 if quantization == "int8" else 0.01), (
                quantization,
                v,
            )
            assert v["top1_agreement"] >= 0.95, (quantization, v)
        kv_cache = run.config().model.kind == "transformer" and task == "causal_lm"
        assert ("kv_cache_greedy_agreement" in v) == kv_cache, v  # a Transformer LM's prefill + decode
        if kv_cache:  # 2 x seq_len greedy steps per prompt: the window restarts on its newest tokens too
            assert v["kv_cache_steps"] == 3 * 2 * run.config().model.seq_len, v
            assert v["kv_cache_greedy_agreement"] >= (1.0 if quantization == "float32" else 0.95), v
        if quantization == "float32":
            assert v["max_abs_logit_diff"] < 1e-3, v
            assert v.get("kv_cache_max_abs_logit_diff", 0) < 1e-3, v
    if task == "causal_lm":  # the Export tab's table: a language model's time per generated token
        own = {a.quantization: a for a in artifacts(run) if a.run_id == run.id}
        for quantization, report in reports.items():
            v = report.verification
            per_token = v.get("litert_kv_cache_ms_per_token", v["litert_ms_per_call"]["next_token"])
            assert own[quantization].ms_per_call == per_token
    # Quantization really shrinks the weights.
    assert reports["float16"].tflite_bytes < reports["float32"].tflite_bytes
    assert reports["int8"].tflite_bytes < reports["float32"].tflite_bytes


@pytest.mark.slow
def test_bundle_folder_zip_metadata_and_report(exported):
    run, reports = exported
    config = run.config()
    seq_len, vocab = config.model.seq_len, config.model.vocab_size
    for quantization, report in reports.items():
        folder = run.exports_dir / quantization
        zip_path = run.exports_dir / f"{run.id}-{quantization}.zip"
        assert Path(report.bundle_dir) == folder and Path(report.zip_path) == zip_path
        expected = BUNDLE_FILES | ({"labels.txt"} if config.task == "classifier" else set())
        assert {p.name for p in folder.iterdir()} == expected == set(report.files)
        with zipfile.ZipFile(zip_path) as archive:
            assert set(archive.namelist()) == expected
            assert archive.read("model.tflite") == (folder / "model.tflite").read_bytes()
        assert report.tflite_bytes == (folder / "model.tflite").stat().st_size
        assert report.zip_bytes == zip_path.stat().st_size
        assert (folder / "vocab.txt").read_bytes() == (run.tokenizer_dir / "vocab.txt").read_bytes()

        meta = json.loads((folder / "metadata.json").read_text())
        assert meta["task"] == config.task and meta["quantization"] == quantization
        assert meta["source_run"] == run.id and meta["source_model"] == "model.keras"
        assert meta["sequence_length"] == seq_len and meta["vocab_size"] == vocab
        assert meta["special_tokens"] == {"pad": 0, "unk": 1, "bos": 2, "eos": 3, "mask": 4}
        rules = meta["preprocessing"]
        assert rules["tokenizer"] == config.tokenizer.kind and rules["prepend_bos"] is True
        assert rules["pad_id"] == 0 and rules["padding"] == "right" and "truncation" in rules
        assert isinstance(rules["lowercase"], bool)
        assert meta["keras_textlab_version"] not in ("", "unknown") and meta["created"]
        token_ids = {"name": "token_ids", "shape": [1, seq_len], "dtype": "int32"}
        if config.task == "classifier":
            assert meta["labels"] == run.labels() == (folder / "labels.txt").read_text().splitlines()
            assert meta["signatures"] == {
                "classify": {
                    "inputs": [token_ids],
                    "outputs": [{"name": "logits", "shape": [1, len(run.labels())], "dtype": "float32"}],
                }
            }
        else:
            position = {"name": "position", "shape": [1], "dtype": "int32"}
            next_logits = {"name": "logits", "shape": [1, vocab], "dtype": "float32"}
            signatures = {
                "next_token": {"inputs": [position, token_ids], "outputs": [next_logits]},
                "score": {
                    "inputs": [token_ids],
                    "outputs": [{"name": "logits", "shape": [1, seq_len, vocab], "dtype": "float32"}],
                },
            }
            m = config.model
            if m.kind == "transformer":  # the key/value cache, per layer: keys transposed, values
                head_dim = m.hidden_dim // m.num_heads
                cache = []
                for i in range(m.num_layers):
                    cache.append(
                        {
                            "name": f"keys_{i}",
                            "shape": [1, m.num_heads, head_dim, seq_len],
                            "dtype": "float32",
                        }
                    )
                    cache.append(
                        {
                            "name": f"values_{i}",
                            "shape": [1, m.num_heads, seq_len, head_dim],
                            "dtype": "float32",
                        }
                    )
                length = {"name": "length", "shape": [1], "dtype": "int32"}
                token_id = {"name": "token_id", "shape": [1, 1], "dtype": "int32"}
                by_name = {"key": lambda spec: spec["name"]}  # metadata lists a signature's tensors by name
                outputs = sorted([*cache, next_logits], **by_name)
                signatures["prefill"] = {"inputs": [length, token_ids], "outputs": outputs}
                signatures["decode"] = {
                    "inputs": sorted([*cache, position, token_id], **by_name),
                    "outputs": outputs,
                }
            assert meta["signatures"] == signatures
            generation = meta["generation"]
            assert generation["stop_token_id"] == 3 and generation["never_sampled"] == [0, 1, 2, 4]
            assert generation["context_keep"] == seq_len - seq_len // 4
            assert ("kv_cache" in generation) == (m.kind == "transformer")
        saved_report = json.loads((folder / "report.json").read_text())
        assert saved_report == {k: v for k, v in report.to_dict().items() if k != "zip_bytes"}


@pytest.mark.slow
def test_runner_matches_keras_inference(exported):
    from models.engine.inference import classify, generate, load_run

    run, reports = exported
    loaded = load_run(run)
    folder = run.exports_dir / "float32"
    from_dir, from_zip = Bundle(folder), Bundle(run.exports_dir / f"{run.id}-float32.zip")
    if loaded.task == "classifier":
        for text, keras_probs in zip(TEXTS, classify(loaded, TEXTS), strict=True):
            lite_probs = from_dir.classify(text)
            assert list(lite_probs) == list(keras_probs)  # same ranking of labels
            assert max(abs(lite_probs[k] - keras_probs[k]) for k in keras_probs) < 1e-4
            assert from_zip.classify(text) == lite_probs
        # A text longer than the window is cut like in training, not rejected.
        assert set(from_dir.classify(" ".join(TEXTS * 20))) == set(run.labels())
    else:
        prompt = "The movie "
        new_tokens = 3 * loaded.seq_len  # past the window: it restarts on its newest tokens, twice or more
        keras_text = generate(loaded, prompt, max_new_tokens=new_tokens, temperature=0)
        lite_text = "".join(from_dir.generate(prompt, max_tokens=new_tokens, temperature=0))
        assert lite_text == keras_text and lite_text
        # Seeded sampling from the same logits: the same text as Keras (models.decoding on both sides).
        sampled = "".join(from_dir.generate(prompt, max_tokens=new_tokens, temperature=1.0, top_k=5, seed=3))
        assert sampled == generate(
            loaded, prompt, max_new_tokens=new_tokens, temperature=1.0, top_k=5, seed=3
        )
        long = [Bundle(run.exports_dir / "int8").generate(prompt, 80, 1.0, 5, seed=3) for _ in range(2)]
        first, second = ("".join(pieces) for pieces in long)
        assert first == second and len(first) > 0


@pytest.mark.slow
def test_runner_command_line_without_tensorflow(exported):
    run, _ = exported
    zip_path = run.exports_dir / f"{run.id}-int8.zip"
    task = run.config().task
    # Greedy, so the command line's continuation can be compared with the Bundle's own (a sampled one could
    # end at [EOS] at once on a tiny model, which proved nothing either way).
    prompt = ["--prompt", "The ", "--max-tokens", "12", "--temperature", "0"]
    args = ["--text", TEXTS[0]] if task == "classifier" else prompt
    done = run_bundle_without_frameworks([str(zip_path), *args])
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "models.export.run_bundle", str(zip_path), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    if task == "classifier":
        assert done.stdout.startswith(repr(TEXTS[0])) and all(
            f"{label}=" in done.stdout for label in run.labels()
        )
    else:
        continuation = "".join(Bundle(zip_path).generate("The ", max_tokens=12, temperature=0))
        assert done.stdout == f"The {continuation}\n"
    wrong = ["--prompt", "x"] if task == "classifier" else ["--text", "x"]
    done = subprocess.run(
        [sys.executable, "-m", "models.export.run_bundle", str(zip_path), *wrong],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "pass --" in done.stderr


def _lstm_classifier(exported) -> RunDir:
    run, _ = exported
    if run.config().task != "classifier" or run.config().model.kind != "lstm":
        pytest.skip("runs once, on the LSTM classifier")
    return run


def _no_staging_left(run: RunDir) -> None:
    assert not [p.name for p in run.exports_dir.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_disk_full_leaves_no_bundle_and_a_clear_message(exported, monkeypatch):
    run = _lstm_classifier(exported)
    folder, zip_path = run.exports_dir / "int8", run.exports_dir / f"{run.id}-int8.zip"
    for path in (folder, zip_path):  # start from "never exported"
        if path.is_dir():
            shutil.rmtree(path)
        path.unlink(missing_ok=True)
    real_replace = os.replace

    def full_disk(src, dst, *args, **kwargs):
        if Path(dst).parent == run.exports_dir:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(DataError) as caught:
        export_run(run, "int8")
    message = str(caught.value)
    assert "No space left on device" in message and "Nothing was written" in message
    assert str(folder) in message
    assert not folder.exists() and not zip_path.exists()
    _no_staging_left(run)


@pytest.mark.slow
@pytest.mark.parametrize("failing", ["zip_write", "zip_rename"])
def test_failed_reexport_keeps_the_previous_bundle(exported, monkeypatch, failing):
    run = _lstm_classifier(exported)
    folder, zip_path = run.exports_dir / "float16", run.exports_dir / f"{run.id}-float16.zip"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    zip_before = zip_path.read_bytes()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failing == "zip_write":
        monkeypatch.setattr(zipfile.ZipFile, "write", no_space)
    else:  # the folder is already swapped in when the zip rename fails: it must be swapped back
        real_replace = os.replace

        def zip_rename_fails(src, dst, *args, **kwargs):
            if str(dst).endswith(".zip"):
                no_space()
            return real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "replace", zip_rename_fails)
    with pytest.raises(DataError, match="No space left on device"):
        export_run(run, "float16")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert zip_path.read_bytes() == zip_before
    _no_staging_left(run)


@pytest.mark.slow
def test_unrolled_lstm_export_has_no_loop_and_agrees(exported):
    run = _lstm_classifier(exported)
    looped = json.loads((run.exports_dir / "float32" / "report.json").read_text())
    assert "WHILE" in looped["operators"]
    report = export_run(run, "float32", unroll_lstm=True)
    assert "WHILE" not in report.operators and report.flex_ops == []
    assert report.verification["top1_agreement"] == 1.0
    assert report.verification["max_abs_logit_diff"] < 1e-3


@pytest.mark.slow
def test_cli_export(exported, capsys):
    from app.cli import main

    run = _lstm_classifier(exported)
    workspace = str(run.path.parent.parent)
    assert (
        main(["--workspace", workspace, "export", run.id, "--quantization", "int8", "--max-examples", "8"])
        == 0
    )
    out = capsys.readouterr().out
    assert f"int8: {run.exports_dir / f'{run.id}-int8.zip'}" in out and '"top1_agreement"' in out
    assert json.loads((run.exports_dir / "int8" / "report.json").read_text())["verification"]["examples"] == 8
    assert main(["--workspace", workspace, "export", "no-such-run"]) == 2
    assert "no run named 'no-such-run'" in capsys.readouterr().err


def test_builtin_only_export_refuses_flex_ops_unless_allowed(tmp_path):
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from models.export.convert import convert, saved_model
    from models.export.graph import Endpoint

    # Cumprod has no TFLite builtin kernel: only the Flex (TensorFlow) runtime can run it.
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.ops.cumprod(keras.layers.Dense(8)(inputs), axis=1))
    endpoint = Endpoint(lambda x: {"y": model(x)}, [tf.TensorSpec([1, 8], tf.float32, name="x")])
    with saved_model({"cumprod": endpoint}) as traced:
        with pytest.raises(DataError) as caught:
            convert(traced, "float32")
        assert "Flex ops: Cumprod" in str(caught.value) and "allow_flex" in str(caught.value)
        converted = convert(traced, "float32", allow_flex=True)
    assert converted.flex_ops == ["FlexCumprod"]
    path = tmp_path / "flex.tflite"
    path.write_bytes(converted.content)
    runner = Interpreter(model_path=str(path)).get_signature_runner("cumprod")
    with pytest.raises(RuntimeError, match="Flex"):  # the plain interpreter refuses: hence builtin-only
        runner(x=np.ones((1, 8), np.float32))


def test_unknown_quantization_and_task_are_refused(tmp_path):
    config = RunConfig(task="masked_lm", workspace=str(tmp_path))
    run = RunDir.create(config)
    with pytest.raises(DataError, match="unknown quantization 'int4'"):
        export_run(run, "int4")
    with pytest.raises(DataError, match="masked_lm run; export supports classifier, causal_lm"):
        export_run(run, "int8")


@pytest.mark.slow
def test_run_trained_on_torch_exports_from_its_keras_file(tmp_path):
    """Export always runs on TensorFlow: a PyTorch run is loaded from model.keras (JAX works the same way)."""
    config = tiny_config(
        tmp_path / "ws", make_sentiment_csv(tmp_path / "s.csv"), "classifier", "lstm", "wordpiece"
    )
    config.backend = "torch"
    config.train.epochs, config.train.max_steps = 1, 6
    config.save(tmp_path / "config.json")
    command = [sys.executable, "-m", "app", "--workspace", config.workspace, "train", "--config"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [*command, str(tmp_path / "config.json"), "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (run_path,) = (Path(config.workspace) / "runs").iterdir()
    run = RunDir(run_path)
    assert run.config().backend == "torch"
    report = export_run(run, "float32")
    assert report.verification["top1_agreement"] >= 0.99
    assert report.verification["max_abs_logit_diff"] < 1e-3
