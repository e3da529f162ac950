"""Shared fixtures: small generated datasets and tiny run configs (no ../shared needed)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

if os.environ.get("TEXTLAB_WITHOUT_TF_TEXT"):
    # As where tensorflow-text has no wheel (macOS arm64, Windows): importing it fails. scripts/test.sh runs
    # the tokenizer, pipeline and training tests this way.
    sys.modules["tensorflow_text"] = None

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

POSITIVE = ["great", "lovely", "excellent", "happy", "wonderful", "superb"]
NEGATIVE = ["awful", "terrible", "sad", "horrible", "boring", "poor"]
FILLER = ["the", "movie", "was", "really", "quite", "and", "plot", "actors", "a", "very", "film", "story"]


def make_sentiment_csv(path: Path, rows: int = 240, seed: int = 0) -> Path:
    """A small two-class CSV a tiny model can learn in a few steps (a word from each class list decides)."""
    rng = random.Random(seed)
    lines = ["text,label"]
    for i in range(rows):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.choices(FILLER, k=rng.randint(3, 8)) + [
            rng.choice(POSITIVE if label == "pos" else NEGATIVE)
        ]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)},{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_corpus(path: Path, chars: int = 30_000, seed: int = 0) -> Path:
    """A small text corpus with learnable structure for character-level language modelling."""
    rng = random.Random(seed)
    words = POSITIVE + NEGATIVE + FILLER
    out, size = [], 0
    while size < chars:
        sentence = " ".join(rng.choices(words, k=rng.randint(4, 9))).capitalize() + ".\n"
        out.append(sentence)
        size += len(sentence)
    path.write_text("".join(out), encoding="utf-8")
    return path


NAMES_FIRST = [
    "Anna",
    "Bruno",
    "Chen",
    "Dara",
    "Emil",
    "Farah",
    "Goran",
    "Hana",
    "Ivo",
    "Jia",
    "Kofi",
    "Lena",
]
NAMES_LAST = ["Okafor", "Silva", "Novak", "Tanaka", "Moreau", "Haddad", "Larsen", "Kowal"]
NAMES_PLACES = ["Lisbon", "Nairobi", "Osaka", "Quito", "Riga", "Tunis", "Hanoi", "Perth", "Bergen", "Cusco"]
NAMES_TEMPLATES = [
    "{per} flew to {loc} today",
    "we saw {per} in {loc} with {w}",
    "{loc} welcomes {per}",
    "the {w} in {loc} was {w} {w}",
    "{per} said the {w} was {w}",
    "{w} {w} and {w}",
]


def make_names_conll(path: Path, sentences: int = 400, seed: int = 0) -> Path:
    """Capitalised two-word person names and one-word places among lowercase filler words, in CoNLL."""
    rng = random.Random(seed)
    blocks = []
    for _ in range(sentences):
        lines = []
        for piece in rng.choice(NAMES_TEMPLATES).split():
            if piece == "{per}":
                lines += [f"{rng.choice(NAMES_FIRST)}\tB-person", f"{rng.choice(NAMES_LAST)}\tI-person"]
            elif piece == "{loc}":
                lines.append(f"{rng.choice(NAMES_PLACES)}\tB-place")
            else:
                lines.append(f"{rng.choice(FILLER) if piece == '{w}' else piece}\tO")
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def run_bundle_without_frameworks(argv: list[str]) -> subprocess.CompletedProcess:
    """``models.export.run_bundle.main(argv)`` in a fresh interpreter; its stdout ends with the line
    ``HEAVY [...]``: which of TensorFlow, Keras, keras-hub, JAX and PyTorch it imported (none, for an app)."""
    check = (
        "import sys\n"
        "from models.export.run_bundle import main\n"
        f"rc = main({argv!r})\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'keras_hub', 'jax', 'torch'})\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(rc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.fixture
def sentiment_csv(tmp_path: Path) -> Path:
    return make_sentiment_csv(tmp_path / "sentiment.csv")


@pytest.fixture
def corpus_txt(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "corpus.txt")


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present on this machine")
    return SHARED_DATA
