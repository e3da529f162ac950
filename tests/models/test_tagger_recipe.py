"""The token tagger's data-driven recipe: what it chooses, that flags win, and a default run that tags well."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli import build_parser, config_from_args, main
from models.engine.recipe import tagger_recipe
from tests.conftest import make_names_conll


def _cli(*argv: str):
    return config_from_args(build_parser().parse_args(list(argv)))


SENTENCES = [
    ["Anna", "flew", "to", "Lisbon"],
    ["we", "saw", "Chen", "Novak", "in", "Osaka", "today"],
] * 100


def test_tagger_recipe_is_a_crf_on_eleven_word_features_read_whole():
    recipe = tagger_recipe(SENTENCES, train_rows=160)
    s = recipe.settings
    assert s["tokenizer"] == "word_features" and s["min_frequency"] == 2 and len(s["word_slots"]) == 11
    assert s["kind"] == "crf" and s["epochs"] == 1 and "learning_rate" not in s
    assert s["seq_len"] == 78  # "we saw Chen Novak in Osaka today": 7 words x 11 features, plus [BOS]
    assert "1-4 letters" in recipe.reasons[0] and "100% of sentences" in recipe.reasons[1]
    assert "cross-validated entity F1" in recipe.reasons[2]
    # A tokenizer the CRF cannot read gets the neural recipe.
    own_chars = tagger_recipe(SENTENCES, train_rows=160, tokenizer="char").settings
    assert own_chars["kind"] == "lstm" and "tokenizer" not in own_chars and "min_frequency" not in own_chars
    assert own_chars["seq_len"] == 33  # counted in characters: "we saw Chen Novak in Osaka today" + [BOS]


def test_tagger_recipe_for_a_chosen_lstm_reads_four_word_features():
    recipe = tagger_recipe(SENTENCES, train_rows=160, kind="lstm")
    s = recipe.settings
    assert s["tokenizer"] == "word_features" and s["word_slots"] == ["w", "p", "s", "x"]
    assert s["kind"] == "lstm" and s["bidirectional"] is True and s["preset"] == "small"
    assert s["seq_len"] == 29  # 7 words x 4 features, plus [BOS]
    assert s["learning_rate"] == 3e-3 and s["batch_size"] == 16 and s["early_stopping_patience"] == 3
    assert "prefix and suffix" in recipe.reasons[0] and "of sentences" in recipe.reasons[1]
    own_kind = tagger_recipe(SENTENCES, train_rows=160, kind="transformer").settings
    assert "kind" not in own_kind and "bidirectional" not in own_kind and own_kind["learning_rate"] == 1e-3


def test_single_character_words_get_form_shape_and_bigram_only():
    sentences = [list("张伟昨天去了北京出差"), list("李娜在上海工作了三年多")] * 100
    recipe = tagger_recipe(sentences, train_rows=160)
    s = recipe.settings
    assert s["tokenizer"] == "word_features" and s["word_slots"] == ["w", "x", "b"]
    assert s["seq_len"] == 34  # 11 characters x 3 tokens, plus [BOS]
    assert "single characters" in recipe.reasons[0]
    long = tagger_recipe([list("很" * 200)] * 50, train_rows=40).settings
    assert long["seq_len"] == 601  # a tagger may read past a classifier's 256: cut words would count as O


def test_the_cli_gives_taggers_the_recipe_unless_told_otherwise(tmp_path: Path):
    data = make_names_conll(tmp_path / "names.conll", sentences=100)
    args = ("--workspace", str(tmp_path), "train", "--task", "token_classifier", "--data", str(data))
    chosen = _cli(*args)
    assert chosen.model.kind == "crf" and chosen.train.epochs == 1
    assert chosen.tokenizer.kind == "word_features" and chosen.tokenizer.min_frequency == 2
    assert any(r.startswith("word features") for r in chosen.recipe)
    own = _cli(*args, "--tokenizer", "wordpiece", "--epochs", "2")
    assert own.tokenizer.kind == "wordpiece" and own.train.epochs == 2 and own.model.kind == "lstm"
    assert own.recipe[-1] == "kept your own epochs, tokenizer"
    off = _cli(*args, "--recipe", "none")
    assert off.recipe == [] and off.model.kind == "transformer" and not off.model.bidirectional


def _default_run(data: Path, workspace: Path, capsys) -> tuple[Path, str]:
    """`train --task token_classifier --data FILE` with nothing else: the run folder and what it printed."""
    argv = ["--workspace", str(workspace), "train", "--task", "token_classifier", "--data", str(data)]
    assert main([*argv, "--quiet"]) == 0
    (run,) = (workspace / "runs").iterdir()
    return run, capsys.readouterr().out


def test_default_tagger_run_finds_the_entities(tmp_path: Path, capsys):
    run, out = _default_run(make_names_conll(tmp_path / "names.conll"), tmp_path / "ws", capsys)
    assert "recipe: word features" in out
    report = json.loads((run / "eval.json").read_text())
    assert report["entity_f1"] > 0.9, report  # predicting O everywhere scores 0
    # The epoch kept is the one with the best validation entity F1, not the lowest validation loss.
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in lines if r["kind"] == "epoch"]
    assert epochs and all(0.0 <= r["val_entity_f1"] <= 1.0 for r in epochs)
    best = json.loads((run / "status.json").read_text())["best"]
    top = max(epochs, key=lambda r: (r["val_entity_f1"], -r["epoch"]))
    assert best["epoch"] == top["epoch"] and best["val_entity_f1"] == top["val_entity_f1"]
    assert main(["--workspace", str(tmp_path / "ws"), "tag", run.name, "we saw Hana Larsen in Riga"]) == 0
    *lines, entities = capsys.readouterr().out.strip().splitlines()
    tags = dict(line.split("\t") for line in lines)
    assert tags["Hana"] == "B-person" and tags["Larsen"] == "I-person" and tags["Riga"] == "B-place"
    assert entities == "# entities: [Hana Larsen](person), [Riga](place)"


def _chinese_characters_conll(path: Path, sentences: int = 300, seed: int = 0) -> Path:
    """One character per line, as Chinese NER sets are: two-character person names and places among filler."""
    import random

    rng = random.Random(seed)
    surnames, given, places = (
        "王李张刘陈杨赵黄周吴",
        "伟娜敏静磊洋艳军杰涛",
        ["北京", "上海", "广州", "成都", "武汉", "西安"],
    )
    filler = "的了在是我有他这中大来上个们到说和地也子时道出而要于就下得可你年生"
    blocks = []
    for _ in range(sentences):
        lines = [f"{c}\tO" for c in rng.choices(filler, k=rng.randint(1, 4))]
        lines += [f"{rng.choice(surnames)}\tB-person", f"{rng.choice(given)}\tI-person"]
        lines += [f"{c}\tO" for c in rng.choices(filler, k=rng.randint(1, 3))]
        place = rng.choice(places)
        lines += [f"{place[0]}\tB-place", f"{place[1]}\tI-place"]
        lines += [f"{c}\tO" for c in rng.choices(filler, k=rng.randint(0, 3))]
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def test_default_tagger_on_chinese_characters(tmp_path: Path, capsys):
    run, out = _default_run(_chinese_characters_conll(tmp_path / "chars.conll"), tmp_path / "ws", capsys)
    assert "single characters" in out
    assert json.loads((run / "eval.json").read_text())["entity_f1"] > 0.9


def test_tagged_words_become_entity_segments():
    from models.engine.inference import entity_segments

    tagged = [("we", "O"), ("saw", "O"), ("Hana", "B-person"), ("Larsen", "I-person"), ("in", "O")]
    tagged += [("Riga", "B-place"), ("Oslo", "B-place")]
    assert entity_segments(tagged) == [
        ("we saw", None),
        ("Hana Larsen", "person"),
        ("in", None),
        ("Riga", "place"),
        ("Oslo", "place"),
    ]
    assert entity_segments([("hello", "O")]) == [("hello", None)] and entity_segments([]) == []
