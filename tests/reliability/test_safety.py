"""Safety: uploads stay inside the workspace, models load in Keras safe mode only, a full disk loses nothing.

The loopback-only server is checked in test_live_app.py (it needs the running app).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ui import data_tab, files
from data.errors import DataError
from models.run_dir import RunDir
from tests.conftest import make_sentiment_csv
from tests.reliability.helpers import ROOT, tiny_config

CONTENT = b"text,label\nthe film was lovely,pos\nthe plot was boring,neg\n"


# -- uploads cannot leave the workspace -----------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd.csv",
        "/etc/passwd.csv",
        "..\\..\\windows\\system32\\evil.csv",
        "ok\x00.csv",
        "\x00../../x.csv",
        "x" * 5000 + ".csv",
        "y" * 300,
        "~/.ssh/authorized_keys",
        "..",
        ".",
        "uploads/../../../z.csv",
        "file\u202egnp.csv",  # right-to-left override: the name shows reversed in some viewers
        "con.csv",
        "a/" * 2000 + "deep.csv",
    ],
)
def test_upload_names_cannot_escape_the_workspace(name: str, tmp_path: Path) -> None:
    source = tmp_path / "incoming.csv"
    source.write_bytes(CONTENT)
    workspace = tmp_path / "ws"
    saved = files.save_upload(source, workspace, original_name=name)
    uploads = (workspace / "uploads").resolve()
    assert saved.parent == uploads and saved.read_bytes() == CONTENT
    stem = saved.name.rsplit(".", 1)[0] if "." in saved.name else saved.name
    assert re.fullmatch(r"[\w-]+(\.[a-z0-9]{1,10})?", saved.name) and len(stem.encode()) <= 100, saved.name
    assert {p for p in tmp_path.rglob("*") if p.is_file()} == {source, saved}  # nothing written elsewhere


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=400))
def test_any_upload_name_is_sanitized(name: str) -> None:
    safe = files.sanitize_filename(name)
    assert safe and len(safe.encode()) <= 111 and "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert not safe.startswith(".") and safe not in (".", "..")


def test_upload_on_a_full_disk_says_so_and_leaves_no_partial_copy(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(CONTENT + b"another fine row,pos\n" * 20_000)  # ~420 KB, far below the size limit
    workspace = tmp_path / "ws"
    with _full_disk(workspace / "uploads", "64k") as mounted:
        outputs = data_tab.load_upload(str(big), str(workspace))
        left = sorted(p.name for p in (workspace / "uploads").iterdir())
    message = outputs[5]["value"]
    assert outputs[0] is None and "big.csv" in message and "could not be saved in the workspace" in message
    assert "No space left on device" in message and "free disk space" in message, (mounted, message)
    assert left == []


# -- Keras safe mode ------------------------------------------------------------------------------------
MARKER_NAME = "lambda-ran"


def _evil_model(path: Path, marker: Path) -> None:
    """A .keras file whose Lambda layer writes ``marker`` when the layer runs (as loading would run it)."""
    import keras

    code = f"(lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('pwned'), x)[1])"
    inputs = keras.Input((8,), dtype="int32")
    outputs = keras.layers.Lambda(eval(code))(keras.layers.Embedding(50, 4)(inputs))
    keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(outputs))).save(path)
    marker.unlink(missing_ok=True)  # building the model ran it once, here, on purpose


@pytest.fixture
def evil_run(tmp_path: Path) -> tuple[RunDir, Path]:
    import keras

    config = tiny_config(
        tmp_path / "ws", make_sentiment_csv(tmp_path / "s.csv"), backend=keras.backend.backend()
    )
    run = RunDir.create(config)
    marker = tmp_path / MARKER_NAME
    _evil_model(run.model_path, marker)
    # Unsafe loading would run the payload: this proves the file is live, so the refusals below mean something.
    keras.models.load_model(run.model_path, safe_mode=False)
    assert marker.exists()
    marker.unlink()
    return run, marker


def _refused(err: BaseException, path: Path) -> None:
    message = str(err)
    assert isinstance(err, DataError), f"{type(err).__name__}: {message}"
    assert str(path) in message and "was refused" in message and "Lambda layer" in message
    assert "What to do:" in message and "safe_mode=False" not in message


def test_lambda_model_is_refused_by_the_inference_and_playground_path(evil_run) -> None:
    from app.ui.playground_tab import _loaded
    from models.engine.inference import load_run

    run, marker = evil_run
    for load in (lambda: load_run(run), lambda: _loaded(str(run.path))):
        with pytest.raises(DataError) as caught:
            load()
        _refused(caught.value, run.model_path)
    assert not marker.exists()


def test_lambda_model_is_refused_by_the_cli(evil_run, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    run, marker = evil_run
    code = main(["--workspace", str(run.path.parent.parent), "classify", str(run.path), "some text"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "was refused" in err and "Traceback" not in err
    assert not marker.exists()


def test_lambda_checkpoint_is_refused_on_resume(evil_run) -> None:
    from models.engine.train import resume

    run, marker = evil_run
    run.checkpoint_dir.mkdir()
    os.replace(run.model_path, run.last_checkpoint)
    with pytest.raises(DataError) as caught:
        resume(run)
    _refused(caught.value, run.last_checkpoint)
    status = run.status()
    assert status["state"] == "failed" and "was refused" in status["message"] and status["pid"] is None
    assert not marker.exists()


def test_every_model_load_in_the_code_uses_safe_mode() -> None:
    """Static guard: no unsafe switch anywhere, and every load_model call passes safe_mode=True."""
    sources = [p for folder in ("app", "models", "data", "bench") for p in (ROOT / folder).rglob("*.py")]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert "enable_unsafe_deserialization" not in text and "safe_mode=False" not in text, path
        for call in re.findall(r"load_model\((.*?)\)\n", text, flags=re.S):
            assert "safe_mode=True" in call, f"{path}: load_model({call})"


# -- a full disk during export --------------------------------------------------------------------------
@contextlib.contextmanager
def _full_disk(folder: Path, size: str) -> Iterator[str]:
    """A real tiny tmpfs on ``folder`` (needs root). Elsewhere the standard library's own write paths into
    ``folder`` fail with ENOSPC instead: os.fsync (files) and os.sendfile (shutil's copies)."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    if os.geteuid() == 0 and subprocess.run(mount, capture_output=True).returncode == 0:
        try:
            yield "tmpfs"
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    with pytest.MonkeyPatch.context() as patch:
        for name in ("fsync", "sendfile"):
            patch.setattr(os, name, _no_space_in(folder.resolve(), getattr(os, name)))
        yield "monkeypatched"


def _no_space_in(folder: Path, real):
    def call(fd: int, *args):
        if Path(os.readlink(f"/proc/self/fd/{fd}")).is_relative_to(folder):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, *args)

    return call


@pytest.mark.slow
def test_disk_full_during_export_reports_and_leaves_no_bundle(tmp_path: Path) -> None:
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("TFLite export runs on the TensorFlow backend")
    from models.engine.train import train
    from models.export import export_run

    config = tiny_config(tmp_path / "ws", make_sentiment_csv(tmp_path / "s.csv"), backend="tensorflow")
    run = train(config)
    assert run.status()["state"] == "completed", run.status()
    with _full_disk(run.exports_dir, "16k") as how:
        with pytest.raises(DataError) as caught:
            export_run(run, "float32", max_examples=8)
        left = sorted(p.name for p in run.exports_dir.iterdir())
    message = str(caught.value)
    assert "writing the export bundle failed: No space left on device" in message, (how, message)
    assert "Nothing was written" in message and "free disk space" in message
    assert left == [], f"half-written bundle left behind ({how}): {left}"
    report = export_run(run, "float32", max_examples=8)  # with space again, the same export succeeds
    assert Path(report.zip_path).is_file()
