"""Atomic bundle writes: build folder and zip under temporary names, then rename both into place, or leave nothing."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import zipfile
from pathlib import Path
from types import TracebackType
from typing import Any

from data.errors import DataError


class StagedBundle:
    """``with StagedBundle(folder, zip_path) as bundle:`` write files, then ``bundle.publish()``.

    Staging lives beside the targets (same filesystem), so publishing is a few renames. Leaving the block
    without publishing (an error, a full disk) removes everything staged and keeps a previous bundle intact.
    An OSError becomes a DataError that says what failed and that nothing was written.
    """

    def __init__(self, folder: Path, zip_path: Path) -> None:
        self.folder = Path(folder)
        self.zip_path = Path(zip_path)
        self.staging: Path | None = None
        self._staged_zip: Path | None = None

    def __enter__(self) -> StagedBundle:
        try:
            self.folder.parent.mkdir(parents=True, exist_ok=True)
            self.staging = _unique(self.folder)
            self.staging.mkdir()
        except OSError as err:
            raise self._error(err) from err
        return self

    def path(self, name: str) -> Path:
        assert self.staging is not None, "use StagedBundle in a with block"
        return self.staging / name

    def write_bytes(self, name: str, payload: bytes) -> Path:
        path = self.path(name)
        with open(path, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        return path

    def write_text(self, name: str, text: str) -> Path:
        return self.write_bytes(name, text.encode("utf-8"))

    def write_json(self, name: str, obj: Any) -> Path:
        return self.write_text(name, json.dumps(obj, indent=2, sort_keys=True) + "\n")

    def copy(self, source: Path, name: str) -> Path:
        return self.write_bytes(name, Path(source).read_bytes())

    def publish(self) -> None:
        """Zip the staged files, then swap folder and zip into place (undoing the first swap if the second fails)."""
        assert self.staging is not None, "publish() once, inside the with block"
        self._staged_zip = _unique(self.zip_path)
        with zipfile.ZipFile(self._staged_zip, "x", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(self.staging.iterdir()):
                archive.write(path, arcname=path.name)  # files at the root: unzip anywhere and load
        with open(self._staged_zip, "rb") as handle:
            os.fsync(handle.fileno())

        previous = None
        if self.folder.exists():
            previous = self.folder.with_name(f".previous-{self.folder.name}-{os.getpid()}")
            shutil.rmtree(previous, ignore_errors=True)
            os.replace(self.folder, previous)
        try:
            os.replace(self.staging, self.folder)
            try:
                os.replace(self._staged_zip, self.zip_path)
            except BaseException:
                os.replace(self.folder, self.staging)  # back to staging, removed on exit
                raise
        except BaseException:
            if previous is not None:
                os.replace(previous, self.folder)
            raise
        self.staging = self._staged_zip = None
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
        if self._staged_zip is not None:
            self._staged_zip.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise self._error(err) from err

    def _error(self, err: OSError) -> DataError:
        reason = err.strerror or str(err)
        where = f" ({err.filename})" if err.filename else ""
        return DataError(
            f"writing the export bundle failed: {reason}{where}. Nothing was written; "
            "an earlier bundle of this quantization, if any, is unchanged.",
            file=str(self.folder),
            hint=f"free disk space or fix permissions in {self.folder.parent}, then export again.",
        )


def _unique(target: Path) -> Path:
    """A fresh hidden name beside ``target`` (plain mkdir/open, so the umask sets the usual permissions)."""
    return target.with_name(f".staging-{target.name}-{os.getpid()}-{secrets.token_hex(4)}")
