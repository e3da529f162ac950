"""The tabs' Altair charts: which panels, series and bins they carry (the browser tests see them drawn)."""

from __future__ import annotations

import json

import pandas as pd

from app.ui import charts

RECORDS = [
    {"kind": "step", "step": 2, "loss": 0.9, "learning_rate": 1e-3},
    {"kind": "step", "step": 4, "loss": 0.7, "learning_rate": 5e-4},
    {"kind": "epoch", "step": 4, "epoch": 1, "val_loss": 0.75, "val_accuracy": 0.6, "val_macro_f1": 0.5},
]


def _spec(chart: object) -> dict:
    return json.loads(chart.to_json())  # what gr.Plot sends to the browser


def _values(spec: dict) -> list[dict]:
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def test_train_chart_has_loss_scores_and_learning_rate_panels() -> None:
    spec = _spec(charts.train_chart("run-a", RECORDS))
    assert len(spec["hconcat"]) == 3
    assert spec["usermeta"]["embedOptions"]["renderer"] == "svg"
    series = {row.get("series") for row in _values(spec)}
    assert {"train loss", "val loss", "val accuracy", "val macro f1"} <= series
    assert "run-a: 2 train points, 1 val epoch" in json.dumps(spec["hconcat"][0]["title"])


def test_train_chart_of_a_new_run_is_the_loss_panel_alone() -> None:
    spec = _spec(charts.train_chart("run-b", []))
    assert len(spec["hconcat"]) == 1
    assert _values(spec) == [{"message": "no points yet"}]  # not an empty chart Vega cannot size


def test_overlay_of_no_runs_says_so() -> None:
    spec = _spec(charts.overlay_chart({}))
    assert "no runs selected" in json.dumps(spec["title"]) and _values(spec) == [{"message": "no points yet"}]


def test_language_model_curves_are_perplexity() -> None:
    spec = _spec(charts.train_chart("lm", RECORDS, perplexity=True))
    series = {row.get("series") for row in _values(spec)}
    assert {"train perplexity", "val perplexity"} <= series and "val accuracy" not in series


def test_overlay_chart_names_each_run() -> None:
    spec = _spec(charts.overlay_chart({"run-a": RECORDS, "run-b": RECORDS[:1]}))
    assert {row["series"] for row in _values(spec)} == {
        "run 1 · train loss",
        "run 1 · val loss",
        "run 2 · train loss",
    }
    assert "run 2 = run-b: 1 train point, 0 val epochs" in json.dumps(spec["title"])


def test_bar_chart_keeps_the_frame_order() -> None:
    frame = pd.DataFrame({"length": ["10-19", "2-9"], "count": [3, 4]})
    spec = _spec(charts.bar_chart(frame, "length", "count", "text length"))
    assert [row["length"] for row in _values(spec)] == ["10-19", "2-9"]
    assert spec["encoding"]["x"]["sort"] is None


def test_the_test_report_is_a_heatmap_and_f1_bars() -> None:
    report = {
        "labels": ["ham", "spam"],
        "confusion_matrix": [[8, 0], [1, 1]],
        "per_class": {"ham": {"f1": 0.94, "support": 8}, "spam": {"f1": 0.67, "support": 2}},
    }
    spec = _spec(charts.evaluation_chart(report))
    heatmap, bars = spec["hconcat"]
    assert {layer["mark"]["type"] for layer in heatmap["layer"]} == {"rect", "text"}
    rows = _values(spec)
    assert {"true": "spam", "predicted": "ham", "count": 1, "share": 0.5} in rows  # shaded within its row
    assert {"label": "spam", "f1": 0.67, "support": 2} in rows and bars["mark"]["type"] == "bar"
    tagger = {"per_class": {"PER": {"f1": 0.5, "support": 4}}}  # entity types: bars, no matrix
    assert len(_spec(charts.evaluation_chart(tagger))["hconcat"]) == 1
    assert charts.evaluation_chart(None) is None
