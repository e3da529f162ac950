"""Charts the tabs draw: Altair specs built from the views' frames, shown in gr.Plot."""

# Why Altair in gr.Plot and not gr.BarPlot/gr.LinePlot: Gradio 6's native plots patch their data into the
# chart they already drew and show each update one step late (a second upload kept the first file's
# histogram; a finished run lacked its last validation point until a reload). gr.Plot embeds the whole
# spec afresh on every update, so what is drawn is always the frame just sent.

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd

from app.ui import views

# SVG (not canvas): crisp at any zoom, and the browser tests read the drawn marks and labels.
_EMBED = {"embedOptions": {"renderer": "svg", "actions": False}}
PANEL_WIDTH = 300
PANEL_HEIGHT = 220
# Two bar charts share a row of the Data tab; a fixed width because Vega measured a "container" width of
# zero in gr.Plot when the chart arrived (a blank chart).
BAR_WIDTH = 440
_FROM_ZERO = alt.Scale(domainMin=0)  # every panel's steps from the run's start, aligned side by side


def bar_chart(frame: pd.DataFrame, x: str, y: str, x_title: str) -> alt.Chart:
    """Bars in the frame's row order (histogram bins stay in order), labels slanted so they never overlap."""
    axis = alt.Axis(labelAngle=-40, labelOverlap="greedy", labelLimit=120)
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:N", sort=None, axis=axis, title=x_title),
            y=alt.Y(f"{y}:Q", title=y),
            tooltip=[x, y],
        )
        .properties(width=BAR_WIDTH, height=PANEL_HEIGHT, usermeta=_EMBED)
    )


def train_chart(run_id: str, records: list[Mapping[str, Any]], perplexity: bool = False) -> Any:
    """A run's curves side by side: loss, then validation scores (or perplexity), then the learning rate."""
    caption = [views.chart_caption({run_id: records})]
    panels = [_curves(views.loss_frame(records), "loss", "loss", "Loss", subtitle=caption)]
    scores = views.score_frame(records, perplexity=perplexity)
    if not scores.empty:
        name = "perplexity" if perplexity else "score"
        panels.append(_curves(scores, "value", name, "Perplexity" if perplexity else "Validation scores"))
    rate = views.learning_rate_frame(records)
    if not rate.empty:
        panels.append(
            alt.Chart(rate, title="Learning rate")
            .mark_line()
            .encode(
                x=alt.X("step:Q", title="step", scale=_FROM_ZERO),
                y=alt.Y("learning_rate:Q", title="learning rate", axis=alt.Axis(format=".1e")),
                tooltip=["step", alt.Tooltip("learning_rate:Q", format=".3e")],
            )
            .properties(width=PANEL_WIDTH - 60, height=PANEL_HEIGHT)
        )
    return alt.hconcat(*panels).resolve_scale(color="independent").properties(usermeta=_EMBED)


def overlay_chart(curves: Mapping[str, list[Mapping[str, Any]]]) -> Any:
    """Loss curves of the selected runs in one panel; the subtitle says which run number is which run."""
    frame = views.overlay_frame(curves)
    subtitle = [
        views.chart_caption({f"run {i} = {run_id}": records})
        for i, (run_id, records) in enumerate(curves.items(), start=1)
    ]
    chart = _curves(frame, "loss", "loss", "Loss of the selected runs", subtitle or ["no runs selected"])
    return chart.properties(width=2 * PANEL_WIDTH + 120, usermeta=_EMBED)


def evaluation_chart(report: Mapping[str, Any] | None) -> Any:
    """The test report as charts: the confusion matrix as a heatmap (rows: true labels, shaded by the share
    of each true label's examples, so a rare class's errors show) and F1 per class as bars."""
    cells, f1 = views.confusion_cells_frame(report), views.per_class_f1_frame(report)
    panels = []
    if not cells.empty:
        order = list(dict.fromkeys(cells["true"]))
        side = min(PANEL_HEIGHT * 2, max(PANEL_HEIGHT, 28 * len(order)))
        base = alt.Chart(cells, title="Confusion matrix (test split)").encode(
            x=alt.X(
                "predicted:N", sort=order, title="predicted", axis=alt.Axis(labelAngle=-40, labelLimit=120)
            ),
            y=alt.Y("true:N", sort=order, title="true label", axis=alt.Axis(labelLimit=120)),
        )
        heat = base.mark_rect().encode(
            color=alt.Color("share:Q", title="share of row", scale=alt.Scale(scheme="blues", domain=[0, 1])),
            tooltip=["true", "predicted", "count", alt.Tooltip("share:Q", format=".1%")],
        )
        counts = base.mark_text(baseline="middle").encode(
            text="count:Q",
            color=alt.condition(alt.datum.share > 0.5, alt.value("white"), alt.value("black")),
        )
        panels.append((heat + counts).properties(width=side, height=side))
    if not f1.empty:
        panels.append(
            alt.Chart(f1, title="F1 per class (test split)")
            .mark_bar()
            .encode(
                x=alt.X("f1:Q", title="F1", scale=alt.Scale(domain=[0, 1])),
                y=alt.Y("label:N", sort=None, title=None, axis=alt.Axis(labelLimit=160)),
                tooltip=["label", alt.Tooltip("f1:Q", format=".3f"), "support"],
            )
            .properties(width=PANEL_WIDTH, height=min(PANEL_HEIGHT * 2, max(60, 22 * len(f1))))
        )
    if not panels:
        return None
    return alt.hconcat(*panels).resolve_scale(color="independent").properties(usermeta=_EMBED)


def _curves(frame: pd.DataFrame, y: str, y_title: str, title: str, subtitle: list[str] | None = None) -> Any:
    """Lines per series; series measured per epoch ("val ...") also get a point at each measurement."""
    heading = alt.Title(title, subtitle=subtitle) if subtitle else alt.Title(title)
    if frame.empty:  # Vega sizes an empty layered chart without bounds: say why it is empty instead
        return _message("no points yet", heading)
    base = alt.Chart(frame).encode(
        x=alt.X("step:Q", title="step", scale=_FROM_ZERO),
        y=alt.Y(f"{y}:Q", title=y_title, scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom", columns=2)),
        tooltip=["series", "step", alt.Tooltip(f"{y}:Q", format=".4f")],
    )
    measured = "indexof(datum.series, 'val ') >= 0"
    chart = alt.layer(
        base.mark_line(),
        base.transform_filter(measured).mark_point(filled=True, size=40),
    )
    return chart.properties(title=heading, width=PANEL_WIDTH, height=PANEL_HEIGHT)


def _message(text: str, heading: alt.Title) -> alt.Chart:
    """A panel holding one line of text, the size of a chart panel."""
    return (
        alt.Chart(pd.DataFrame({"message": [text]}))
        .mark_text(size=14, color="gray")
        .encode(text="message:N")
        .properties(title=heading, width=PANEL_WIDTH, height=PANEL_HEIGHT)
    )
