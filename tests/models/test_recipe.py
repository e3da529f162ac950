"""The data-driven classifier recipe: what it chooses for different data, why, and that explicit flags win."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from app.cli import build_parser, config_from_args, main
from data.errors import DataError
from models import tasks
from models.engine.lm_recipe import corpus_tokens
from models.engine.recipe import classifier_recipe
from tests.conftest import make_sentiment_csv


def _cli(*argv: str):
    return config_from_args(build_parser().parse_args(list(argv)))


def _reason(recipe, start: str) -> str:
    return next(r for r in recipe.reasons if r.startswith(start))


def test_untouched_the_linear_model_on_ngrams_with_every_ngram_in_view():
    texts = ["free prize call now", "see you at lunch", "win cash today ok", "home late tonight"] * 50
    recipe = classifier_recipe(texts, train_rows=160)
    s = recipe.settings
    assert s["tokenizer"] == "ngrams" and s["kind"] == "linear" and s["epochs"] == 1
    # "free prize call now": 4 words, 3 bigrams, 56 character 2-5-grams, [BOS]
    assert s["seq_len"] == 64 and "covers 100% of texts" in _reason(recipe, "seq_len")
    assert "word 1-2-grams" in _reason(recipe, "n-gram features")
    assert "160 training rows" in _reason(recipe, "linear TF-IDF model")
    long = [" ".join(f"word{i}" for i in range(1000))] * 50
    assert classifier_recipe(long, train_rows=40).settings["seq_len"] == 4096  # the linear model's cap


def test_imbalanced_classes_are_named_and_balanced_ones_are_not():
    texts = ["free prize call now", "see you at lunch"] * 100
    skewed = classifier_recipe(texts, 160, labels=["spam"] * 20 + ["ham"] * 180)
    assert "imbalanced classes ('ham' 180 rows, 'spam' 20)" in skewed.reasons[-1]
    assert "macro-F1" in skewed.reasons[-1] and "class_weight" not in skewed.settings
    even = classifier_recipe(texts, 160, labels=["spam", "ham"] * 100)
    assert not any("imbalanced" in r for r in even.reasons)


def test_short_english_texts_get_wordpiece_and_a_short_sequence_for_the_bag():
    texts = ["free prize call now", "see you at lunch", "win cash today ok", "home late tonight"] * 50
    recipe = classifier_recipe(texts, train_rows=160, kind="bag")
    s = recipe.settings
    assert s["tokenizer"] == "wordpiece" and s["kind"] == "bag" and s["seq_len"] == 16  # the floor
    assert s["batch_size"] == 16  # under 320 training rows
    assert "space-separated" in _reason(recipe, "WordPiece") and "covers 100% of texts" in _reason(
        recipe, "seq_len"
    )


def test_long_texts_get_a_longer_sequence_capped_at_256():
    rng = random.Random(0)
    medium = [" ".join(["word"] * rng.randint(40, 60)) for _ in range(300)]
    assert (
        80 <= classifier_recipe(medium, train_rows=240, kind="bag").settings["seq_len"] <= 95
    )  # 1.5 x 60 + 2
    long = [" ".join(["word"] * 1000)] * 50
    assert classifier_recipe(long, train_rows=40, kind="lstm").settings["seq_len"] == 256


def test_chinese_gets_character_ngrams_or_the_char_tokenizer_and_a_length_in_characters():
    texts = ["这部电影非常好看，演员的表演很出色", "质量太差了，用了两天就坏了，不推荐购买"] * 100
    linear = classifier_recipe(texts, train_rows=160)
    assert linear.settings["tokenizer"] == "ngrams" and "character 1-3-grams" in linear.reasons[0]
    recipe = classifier_recipe(texts, train_rows=160, kind="transformer")
    assert recipe.settings["tokenizer"] == "char" and "vocab_size" not in recipe.settings
    assert recipe.settings["seq_len"] == 20  # 19 characters + [BOS]
    assert "do not separate words with spaces" in recipe.reasons[0]


def test_forty_classes_and_many_rows_keep_the_batch_of_32(tmp_path: Path):
    rows = ["text,label"] + [f"topic {i % 40} words here number {i},t{i % 40}" for i in range(2000)]
    data = tmp_path / "forty.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = _cli("--workspace", str(tmp_path), "train", "--data", str(data), "--recipe", "auto")
    assert (
        config.train.batch_size == 32
        and config.model.kind == "linear"
        and "1600 training rows" in config.recipe[-1]
    )


def test_explicit_flags_win_and_the_reasons_round_trip(tmp_path: Path):
    data = make_sentiment_csv(tmp_path / "s.csv")
    config = _cli("--workspace", str(tmp_path), "train", "--data", str(data), "--recipe", "auto",
                  "--model", "lstm", "--lr", "0.01")  # fmt: skip
    assert config.model.kind == "lstm" and config.train.learning_rate == 0.01
    assert config.tokenizer.kind == "wordpiece" and config.train.epochs == 30  # the recipe's other choices
    assert config.recipe[-1] == "kept your own kind, learning_rate"
    path = tmp_path / "config.json"
    config.save(path)
    assert type(config).load(path).recipe == config.recipe


def test_the_recipe_is_the_default_and_steps_aside_when_asked(tmp_path: Path):
    data = make_sentiment_csv(tmp_path / "s.csv")
    plain = _cli("--workspace", str(tmp_path), "train", "--data", str(data))
    assert (
        plain.model.kind == "linear" and plain.tokenizer.kind == "ngrams" and plain.recipe
    )  # touched nothing
    bag = _cli("--workspace", str(tmp_path), "train", "--data", str(data), "--model", "bag")
    assert bag.train.learning_rate == 3e-3 and bag.model.preset == "small" and bag.train.epochs == 30
    own_kind = _cli("--workspace", str(tmp_path), "train", "--data", str(data), "--model", "transformer")
    assert own_kind.model.kind == "transformer" and own_kind.model.preset == "tiny"  # the engine's preset
    assert own_kind.train.learning_rate == 1e-3 and own_kind.tokenizer.kind == "wordpiece"
    off = _cli("--workspace", str(tmp_path), "train", "--data", str(data), "--recipe", "none")
    assert off.recipe == [] and off.model.kind == "transformer" and off.tokenizer.kind == "char"
    off.save(tmp_path / "mine.json")  # a config file is the user's own settings: used as it is
    from_file = _cli("--workspace", str(tmp_path), "train", "--config", str(tmp_path / "mine.json"))
    assert from_file.recipe == [] and from_file.model.kind == "transformer"


def test_tasks_without_a_recipe_are_left_alone_and_say_so_when_asked(tmp_path: Path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat\n" * 50, encoding="utf-8")
    (task, *_) = tasks.names(lambda spec: spec.interface is None)  # pretraining only: nothing to choose for
    plain = _cli("--workspace", str(tmp_path), "train", "--task", task, "--data", str(corpus))
    assert plain.recipe == [] and plain.train.learning_rate == 1e-3 and plain.model.dropout == 0.1
    with pytest.raises(DataError, match="recipe is for classifiers, token taggers and language models"):
        _cli("--workspace", str(tmp_path), "train", "--task", task, "--data", str(corpus), "--recipe", "auto")


def test_a_language_model_gets_a_rate_by_width_no_dropout_and_enough_passes(tmp_path: Path):
    (task,) = tasks.names(lambda spec: spec.interface == tasks.GENERATE)
    small = tmp_path / "small.txt"  # 19,220 characters: 3 steps a pass at batch 32 x 128 on 80%
    small.write_text(("the cat sat on the mat. " * 40 + "\n") * 20, encoding="utf-8")
    lm = _cli("--workspace", str(tmp_path), "train", "--task", task, "--data", str(small))
    assert lm.train.learning_rate == 1e-2 and lm.model.dropout == 0.0  # the tiny preset is 64 wide
    assert lm.train.epochs == 30 and "about 3 steps" in _reason_of(lm.recipe, "up to 30 epochs")
    large = tmp_path / "large.txt"  # 1,200,000 characters: 234 steps a pass, 3 passes reach 600 updates
    large.write_text("x" * 1_199_999 + "\n", encoding="utf-8")
    wide = _cli(
        "--workspace", str(tmp_path), "train", "--task", task, "--data", str(large), "--size", "small"
    )
    assert wide.train.learning_rate == 5e-3 and wide.train.epochs == 3  # 128 wide: half the rate
    own = _cli(
        "--workspace", str(tmp_path), "train", "--task", task, "--data", str(small),
        "--learning-rate", "2e-3", "--epochs", "5",
    )  # fmt: skip
    assert own.train.learning_rate == 2e-3 and own.train.epochs == 5 and own.model.dropout == 0.0
    assert own.recipe[-1] == "kept your own epochs, learning_rate"
    off = _cli(
        "--workspace", str(tmp_path), "train", "--task", task, "--data", str(small), "--recipe", "none"
    )
    assert off.recipe == [] and off.train.learning_rate == 1e-3 and off.model.dropout == 0.1


def test_a_language_model_in_characters_not_bytes():
    text = "天地玄黄宇宙洪荒日月盈昃辰宿列张" * 1000  # 16,000 characters, 48,000 bytes in UTF-8
    assert corpus_tokens_of(text, "char") == 16_000
    words = "the cat sat on the mat\n" * 1000  # 6,000 words, 1.5 pieces each
    assert corpus_tokens_of(words, "wordpiece") == pytest.approx(
        9_000, rel=0.05
    )  # newlines count as characters


def _reason_of(reasons: list[str], start: str) -> str:
    return next(r for r in reasons if r.startswith(start))


def test_unreadable_data_leaves_the_error_to_the_run(tmp_path: Path):
    config = _cli("--workspace", str(tmp_path), "train", "--data", str(tmp_path / "missing.csv"))
    assert config.recipe == [] and config.data.path.endswith("missing.csv")


def test_recipe_run_end_to_end_beats_the_majority_class(tmp_path: Path, capsys):
    data = make_sentiment_csv(tmp_path / "s.csv", rows=400)
    code = main(["--workspace", str(tmp_path / "ws"), "train", "--data", str(data), "--quiet"])  # no flags
    out = capsys.readouterr().out
    assert code == 0 and "recipe: n-gram features" in out and "baseline:" in out
    (run,) = (tmp_path / "ws" / "runs").iterdir()
    report = json.loads((run / "eval.json").read_text())
    assert json.loads((run / "config.json").read_text())["recipe"]
    assert report["accuracy"] > 0.5 + 0.3  # two balanced classes: the majority class scores 0.5


def corpus_tokens_of(text: str, tokenizer: str, tmp: Path | None = None) -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.txt"
        path.write_text(text, encoding="utf-8")
        return corpus_tokens(str(path), tokenizer)
