"""Files the app reads and writes outside run directories: bundled demo datasets and saved uploads."""

from __future__ import annotations

import filecmp
import re
import unicodedata
from pathlib import Path

from data.fileio import atomic_copy
from data.readers import FORMATS

DEMO_DIR = Path(__file__).resolve().parents[2] / "assets" / "demo"
UPLOADS_SUBDIR = "uploads"
DATA_SUFFIXES = tuple(FORMATS)  # every file type the loader reads


def demo_datasets() -> dict[str, str]:
    """Bundled demo datasets by file name (CSV first, so the classifier demo is the default)."""
    if not DEMO_DIR.is_dir():
        return {}
    files = [p for p in DEMO_DIR.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES]
    files.sort(key=lambda p: (p.suffix.lower() != ".csv", p.name))
    return {p.name: str(p) for p in files}


STEM_BYTES = 100  # UTF-8 bytes of a saved name's stem: well under the 255 a file name may have


def sanitize_filename(name: str) -> str:
    """A safe base name: no directories, no leading dots, only letters and digits of any script, '-' and '_',
    plus one ASCII suffix (``情感评论.csv`` stays ``情感评论.csv``; the user recognises the file they dropped)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = unicodedata.normalize("NFKC", base)  # one spelling per character (composed accents, full-width)
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = re.sub(r"[^\w-]+", "_", stem).strip("_-")
    stem = stem.encode("utf-8")[:STEM_BYTES].decode("utf-8", "ignore") or "upload"
    suffix = re.sub(r"[^A-Za-z0-9]+", "", suffix).lower()[:10]
    return f"{stem}.{suffix}" if suffix else stem


def save_upload(source: str | Path, workspace: str | Path, original_name: str | None = None) -> Path:
    """Copy an uploaded file into ``<workspace>/uploads/`` under a sanitized, non-clobbering name."""
    source = Path(source)
    folder = (Path(workspace) / UPLOADS_SUBDIR).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    name = sanitize_filename(original_name or source.name)
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    target = folder / name
    for n in range(1, 10_000):
        if not target.exists():
            break
        if filecmp.cmp(source, target, shallow=False):  # the same file uploaded again: reuse it
            return target
        target = folder / (f"{stem}-{n}.{suffix}" if suffix else f"{stem}-{n}")
    if target.resolve().parent != folder:  # belt and braces: the name cannot leave the folder
        raise ValueError(f"refusing to write outside {folder}: {target}")
    atomic_copy(source, target)  # a full disk leaves no half-copied file behind
    return target
