"""Formatting helpers of the UI: metrics, runs, datasets and reports -> DataFrames and Markdown."""

from __future__ import annotations

import math

import pandas as pd

from app.ui import views
from models.run_dir import RunSummary

RECORDS = [
    {"kind": "step", "step": 2, "loss": 0.9, "total_steps": 6},
    {"kind": "step", "step": 4, "loss": 0.7, "total_steps": 6},
    {"kind": "epoch", "step": 4, "epoch": 1, "loss": 0.8, "val_loss": 0.75},
    {"kind": "event", "event": "resumed", "step": 4},
    {"kind": "step", "step": 6, "loss": float("nan"), "total_steps": 6},
    {"kind": "step", "step": 6, "loss": 0.5, "total_steps": 6},
]


def test_loss_frame_has_train_points_per_step_and_val_points_per_epoch() -> None:
    frame = views.loss_frame(RECORDS)
    assert list(frame.columns) == ["step", "loss", "series"]
    train = frame[frame.series == views.TRAIN_SERIES]
    val = frame[frame.series == views.VAL_SERIES]
    assert train.step.tolist() == [2, 4, 6] and train.loss.tolist() == [0.9, 0.7, 0.5]  # NaN dropped
    assert val.step.tolist() == [4] and val.loss.tolist() == [0.75]  # at the step it was measured
    assert views.count_points(RECORDS) == 4
    empty = views.loss_frame([])
    assert empty.empty and str(empty.step.dtype) == "int64" and str(empty.loss.dtype) == "float64"


def test_chart_caption_counts_points_per_run() -> None:
    caption = views.chart_caption({"a": RECORDS, "b": RECORDS[:1]})
    assert caption == "a: 3 train points, 1 val epoch · b: 1 train point, 0 val epochs"
    assert views.chart_caption({}) == "no runs selected"


def test_val_points_sit_at_the_epochs_measured_one_per_epoch() -> None:
    records = [
        {"kind": "epoch", "step": 7, "epoch": 1, "val_loss": 0.9},  # a stop mid-epoch 1 (older runs)
        {"kind": "epoch", "step": 10, "epoch": 1, "val_loss": 0.5},  # epoch 1 after the resume
        {"kind": "epoch", "step": 20, "epoch": 2, "val_loss": 0.4},
    ]
    val = views.loss_frame(records)
    assert val.step.tolist() == [10, 20] and val.loss.tolist() == [0.5, 0.4]


def test_score_frame_has_validation_scores_or_perplexity() -> None:
    records = [
        {"kind": "step", "step": 5, "loss": 2.0, "learning_rate": 1e-3},
        {"kind": "epoch", "step": 5, "epoch": 1, "val_loss": 1.0, "val_accuracy": 0.8, "val_macro_f1": 0.7},
    ]
    scores = views.score_frame(records)
    assert sorted(scores.series) == ["val accuracy", "val macro f1"] and scores.step.tolist() == [5, 5]
    lm = views.score_frame(records, perplexity=True)
    assert lm.series.tolist() == ["train perplexity", "val perplexity"]
    assert lm.value.tolist() == [math.exp(2.0), math.exp(1.0)]
    rate = views.learning_rate_frame(records)
    assert rate.step.tolist() == [5] and rate.learning_rate.tolist() == [1e-3]
    assert views.score_frame([]).empty and views.learning_rate_frame([]).empty


def test_overlay_frame_names_series_by_run() -> None:
    frame = views.overlay_frame({"run-a": RECORDS, "run-b": RECORDS[:1], "empty": []})
    assert set(frame.series) == {"run 1 · train loss", "run 1 · val loss", "run 2 · train loss"}
    assert views.overlay_frame({}).empty


def test_progress_markdown_reports_step_total_eta_and_points() -> None:
    status = {"state": "running", "step": 3, "total_steps": 6, "epoch": 1, "eta_s": 75, "message": "training"}
    text = views.progress_markdown("run-a", status, RECORDS)
    assert "**running**" in text and "step 3/6 (50%)" in text and "ETA 1m 15s" in text
    assert "loss 0.5000" in text and "val loss 0.7500" in text and "4 chart points" in text
    assert "ETA" not in views.progress_markdown("run-a", {**status, "state": "completed"}, RECORDS)
    assert "No run yet" in views.progress_markdown(None, {}, [])
    tagger = [{"kind": "epoch", "step": 3, "epoch": 1, "val_loss": 0.3, "val_entity_f1": 0.4567}]
    assert "val entity f1 0.457" in views.progress_markdown("run-t", status, tagger)
    assert views.progress_fraction(status) == 0.5 and views.progress_fraction({}) == 0.0


def test_format_duration() -> None:
    assert views.format_duration(12.3) == "12s"
    assert views.format_duration(125) == "2m 05s"
    assert views.format_duration(3725) == "1h 02m"
    assert views.format_duration(None) == "" and views.format_duration(math.inf) == ""


def _summary(**kw) -> RunSummary:
    base = dict(
        id="r1",
        path="/w/runs/r1",
        task="classifier",
        kind="transformer",
        data="d.csv",
        backend="tensorflow",
        state="completed",
        step=60,
        best_metric="macro_f1",
        best_value=0.91234,
        duration_s=65.0,
        message="done",
    )
    return RunSummary(**{**base, **kw})


def test_runs_frame_and_choices() -> None:
    runs = [
        _summary(),
        _summary(id="r2", path="/w/runs/r2", task="causal_lm", best_value=None, from_run=None),
    ]
    frame = views.runs_frame(runs)
    assert frame.columns.tolist() == views.RUN_COLUMNS
    assert frame.iloc[0].tolist() == [
        "r1",
        "",
        "classifier",
        "transformer",
        "d.csv",
        "tensorflow",
        "completed",
        60,
        "macro_f1 0.9123",
        "1m 05s",
    ]
    assert frame.iloc[1]["best"] == ""
    assert views.runs_frame([_summary(from_run="lm-1")]).iloc[0]["task"] == "classifier (from lm-1)"
    assert views.run_choices(runs, ("causal_lm",)) == [("r2 · causal_lm · completed", "/w/runs/r2")]
    assert len(views.run_choices(runs)) == 2
    assert views.run_choices(runs, with_state=False)[0] == ("r1 · classifier", "/w/runs/r1")


def test_class_balance_and_length_histogram() -> None:
    frame = pd.DataFrame({"text": ["a" * n for n in (1, 2, 3, 10, 10)], "label": ["x", "y", "x", "x", "y"]})
    balance = views.class_balance_frame(frame)
    assert balance.to_dict("list") == {"label": ["x", "y"], "count": [3, 2]}
    assert views.class_balance_frame(frame[["text"]]).empty
    hist = views.length_histogram_frame(frame, bins=4)
    assert hist["count"].sum() == 5
    assert (
        hist["length"].iloc[0].startswith("1") and hist["count"].iloc[-1] == 2
    )  # the two longest share a bin
    same = views.length_histogram_frame(pd.DataFrame({"text": ["ab", "cd"]}))
    assert same.to_dict("list") == {"length": ["2"], "count": [2]}


def test_preview_frame_cuts_long_texts_and_rows() -> None:
    frame = pd.DataFrame({"text": ["x" * 500] * 30, "n": range(30)})
    head = views.preview_frame(frame, rows=5, max_chars=10)
    assert len(head) == 5 and head["text"].iloc[0] == "x" * 10 + "…" and head["n"].tolist() == [0, 1, 2, 3, 4]


def test_stats_markdown_is_a_table_with_warnings() -> None:
    text = views.stats_markdown({"rows": 5, "chars": {"p50": 2.0, "max": 10}, "source": "/x"}, ["odd bytes"])
    assert "| rows | 5 |" in text and "p50 2" in text and "/x" not in text
    assert "⚠️ odd bytes" in text


REPORT = {
    "accuracy": 0.75,
    "macro_f1": 0.7,
    "examples": 4,
    "split": "test",
    "labels": ["ham", "spam"],
    "confusion_matrix": [[2, 0], [1, 1]],
    "per_class": {
        "ham": {"precision": 0.667, "recall": 1.0, "f1": 0.8, "support": 2},
        "spam": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 2},
    },
}


def test_eval_markdown_and_the_report_as_chart_frames() -> None:
    text = views.eval_markdown(REPORT)
    assert (
        "**accuracy** 0.7500" in text and "on 4 test examples" in text and "| spam | 1.000 | 0.500 |" in text
    )
    cells = views.confusion_cells_frame(REPORT)
    assert cells.values.tolist() == [
        ["ham", "ham", 2, 1.0],
        ["ham", "spam", 0, 0.0],
        ["spam", "ham", 1, 0.5],
        ["spam", "spam", 1, 0.5],
    ]
    f1 = views.per_class_f1_frame(REPORT)
    assert f1.values.tolist() == [["ham", 0.8, 2], ["spam", 0.667, 2]]
    assert "No evaluation report" in views.eval_markdown(None)
    assert views.confusion_cells_frame(None).empty and views.per_class_f1_frame(None).empty


def test_the_baseline_line_says_who_is_ahead() -> None:
    baseline = {"name": "TF-IDF + logistic regression", "features": "word 1-2-grams", "fit_s": 0.4}
    behind = {"macro_f1": 0.80, "baseline": {**baseline, "macro_f1": 0.85}}
    text = views.baseline_text(behind)
    assert "macro-F1 0.850 vs the model's 0.800" in text and "the baseline is ahead by 0.050" in text
    assert "**Baseline:**" in views.eval_markdown(behind)
    assert "the model is ahead by 0.100" in views.baseline_text(
        {"macro_f1": 0.95, "baseline": behind["baseline"]}
    )
    failed = {"macro_f1": 0.5, "baseline": {"name": "TF-IDF", "error": "empty vocabulary"}}
    assert "could not be fitted: empty vocabulary" in views.baseline_text(failed)
    tie = {"macro_f1": 0.85004, "baseline": behind["baseline"]}
    assert "a tie at 3 decimals" in views.baseline_text(tie)
    assert views.baseline_text({"perplexity": 3.0}) == "" and "Baseline" not in views.eval_markdown(
        {"loss": 1.0}
    )


def test_error_markdown_shows_the_message_only() -> None:
    assert views.error_markdown(ValueError("file 'x.csv': bad")).endswith("file 'x.csv': bad")


def test_export_markdown_summarizes_the_report() -> None:
    report = {
        "run_id": "r1",
        "task": "classifier",
        "model_kind": "transformer",
        "quantization": "float16",
        "conversion_s": 3.2,
        "tflite_bytes": 2048,
        "zip_bytes": 3 * 1024 * 1024,
        "signatures": ["classify"],
        "operators": ["FULLY_CONNECTED", "SOFTMAX"],
        "flex_ops": [],
        "files": ["model.tflite", "vocab.txt"],
        "bundle_dir": "/w/runs/r1/exports/float16",
        "verification": {"examples": 20, "label_agreement": 1.0},
    }
    text = views.export_markdown(report)
    assert "as float16 in 3.2 s" in text and "TFLite model: 2.0 KiB; zip: 3.0 MiB" in text
    assert "2 operators, built-in only" in text and "| label agreement | 1 |" in text
    assert "Flex ops: FlexErf" in views.export_markdown({**report, "flex_ops": ["FlexErf"]})


def test_config_diff_frame_keeps_only_the_settings_that_differ() -> None:
    from models.config import RunConfig

    a, b = RunConfig(task="classifier", name="a"), RunConfig(task="classifier", name="b")
    b.model.kind, b.tokenizer.word_slots, b.train.max_steps = "lstm", ["w", "x"], 40
    b.workspace, b.recipe = "elsewhere", ["a reason"]  # where it lives and why: not settings
    frame = views.config_diff_frame({"run 1": a.to_dict(), "run 2": b.to_dict()})
    assert list(frame.columns) == ["setting", "run 1", "run 2"]
    rows = {row[0]: list(row[1:]) for row in frame.itertuples(index=False)}
    assert rows["model.kind"] == ["transformer", "lstm"] and rows["train.max_steps"] == ["", "40"]
    assert rows["tokenizer.word_slots"][1] == "w, x" and rows["name"] == ["a", "b"]
    assert not {"workspace", "recipe", "task", "train.epochs"} & set(rows)
    assert views.config_diff_frame({"run 1": a.to_dict()}).empty  # one run: nothing differs
    assert views.config_diff_frame({}).empty


def test_runs_are_filtered_by_every_word_and_sorted() -> None:
    runs = [
        _summary(
            id="20261204-3-lm", task="causal_lm", best_metric="perplexity", best_value=9.0, duration_s=5
        ),
        _summary(id="20261204-2-b", name="Baseline", best_value=0.7, duration_s=50),
        _summary(id="20261204-1-a", name="another", best_value=0.9, state="stopped", duration_s=None),
        _summary(id="20261204-0-lm", task="causal_lm", best_metric="perplexity", best_value=4.0),
    ]
    ids = lambda rows: [r.id[9:] for r in rows]  # noqa: E731
    assert ids(views.arrange_runs(runs)) == ["3-lm", "2-b", "1-a", "0-lm"]
    assert ids(views.arrange_runs(runs, "", "oldest first")) == [
        "0-lm",
        "1-a",
        "2-b",
        "3-lm",
    ]
    # Scores high first, perplexity low first, each metric on its own.
    assert ids(views.arrange_runs(runs, "", "best score first")) == ["1-a", "2-b", "0-lm", "3-lm"]
    assert ids(views.arrange_runs(runs, "", "longest first"))[:2] == ["0-lm", "2-b"]
    assert ids(views.arrange_runs(runs, "", "name")) == ["0-lm", "3-lm", "1-a", "2-b"]
    assert ids(views.arrange_runs(runs, "CLASSIFIER stopped")) == ["1-a"]
    assert views.arrange_runs(runs, "nothing like it") == []
