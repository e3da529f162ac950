"""The small search: trials are real runs, ranked by validation macro-F1, the user's own settings never varied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from data.errors import DataError
from models.config import RunConfig
from models.engine.search import search
from tests.conftest import make_sentiment_csv


def test_search_ranks_real_runs_by_validation_macro_f1(tmp_path: Path, capsys):
    data = make_sentiment_csv(tmp_path / "s.csv", rows=240)
    code = main(["--workspace", str(tmp_path / "ws"), "search", "--data", str(data), "--model", "bag",
                 "--epochs", "4", "--trials", "3", "--minutes", "3"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "best:" in out, out
    (record_path,) = (tmp_path / "ws" / "searches").glob("*-ranking.json")
    record = json.loads(record_path.read_text())
    trials = record["trials"]
    assert len(trials) == 3 and record["ranked_by"] == "val_macro_f1"
    scores = [t["val_macro_f1"] for t in trials]
    assert scores == sorted(scores, reverse=True)
    # the one-SE rule: the earliest trial within one standard error of the top score is the best
    top = scores[0]
    se = (top * (1 - top) / trials[0]["val_rows"]) ** 0.5
    close = [t for t in trials if t["val_macro_f1"] >= top - se]
    assert record["best_run"] == min(close, key=lambda t: t["number"])["run_id"]
    assert all("kind" not in t["settings"] for t in trials)  # --model bag is the user's own: never varied
    for t in trials:
        run = tmp_path / "ws" / "runs" / t["run_id"]
        config = json.loads((run / "config.json").read_text())
        assert config["model"]["kind"] == "bag" and config["train"]["epochs"] == 4
        assert config["recipe"][-1].startswith("search ")
        assert json.loads((run / "eval.json").read_text())["val_macro_f1"] == t["val_macro_f1"]
    assert trials[0]["val_macro_f1"] > 0.7  # two balanced, learnable classes


def test_the_best_is_the_earliest_trial_within_one_standard_error():
    from models.engine.search import SearchResult, Trial

    def trial(number: int, val: float) -> Trial:
        return Trial(number, f"run{number}", {}, val, None, 400, "completed", 1.0)

    # 0.95 on 400 rows: SE 0.011, so 0.945 (trial 1, the recipe) ties with the top and wins; 0.90 does not
    assert SearchResult([trial(2, 0.95), trial(1, 0.945), trial(3, 0.90)]).best.run_id == "run1"
    assert SearchResult([trial(2, 0.95), trial(1, 0.90)]).best.run_id == "run2"
    assert SearchResult([]).best is None


def test_search_refuses_language_models(tmp_path: Path):
    config = RunConfig(task="causal_lm", workspace=str(tmp_path))
    with pytest.raises(DataError, match="search is for classifiers"):
        search(config, 2, 1.0)


def test_the_train_tab_search_runs_in_a_child_process(tmp_path: Path):
    """The UI's path: models.engine.launcher.launch_search -> python -m models.engine.search."""
    import time

    from models.engine.launcher import launch_search

    config = RunConfig(task="classifier", workspace=str(tmp_path / "ws"))
    config.data.path = str(make_sentiment_csv(tmp_path / "s.csv", rows=200))
    config.train.epochs = 2
    base = launch_search(config, trials=1, minutes=2, keep={"epochs"})
    ranking = base.with_name(base.name.replace("-config.json", "-ranking.json"))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        record = json.loads(ranking.read_text()) if ranking.exists() else {}
        if record.get("best_run"):
            break
        time.sleep(1)
    else:
        raise AssertionError(f"no ranking after 240 s; log: {base.with_suffix('.log').read_text()[-2000:]}")
    (trial,) = record["trials"]
    run_config = json.loads((tmp_path / "ws" / "runs" / trial["run_id"] / "config.json").read_text())
    assert run_config["name"].startswith("search " + base.name.removesuffix("-config.json"))
    assert run_config["train"]["epochs"] == 2 and trial["state"] == "completed"
