"""Runs tab: every run found on disk in a table; the selected runs' loss curves overlaid, their settings diffed."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.ui import charts, views
from models.run_dir import RunDir, list_runs

DEFAULT_OVERLAY = 3


def build(workspace: str) -> dict[str, Any]:
    """Lay out the Runs tab inside the current gr.Tab; returns its refresh event spec."""
    with gr.Row():
        refresh = gr.Button("Refresh", size="sm", elem_id="runs-refresh", scale=0)
        count = gr.Markdown(elem_id="runs-count")
    table = gr.Dataframe(
        headers=views.RUN_COLUMNS,
        interactive=False,
        wrap=True,
        max_height=360,
        column_widths=["27%", "11%", "10%", "12%", "9%", "9%", "5%", "11%", "6%"],
        elem_id="runs-table",
    )
    selected = gr.Dropdown([], multiselect=True, label="Compare runs (loss curves)", elem_id="runs-selected")
    overlay = gr.Plot(label="Loss", elem_id="runs-chart")
    diff = gr.Dataframe(
        label="Settings that differ between the selected runs (numbered as in the chart)",
        interactive=False,
        wrap=True,
        elem_id="runs-diff",
    )

    def on_select(paths: list[str] | None) -> tuple:
        runs = [RunDir(p) for p in paths or []]
        curves = {run.id: run.metrics() for run in runs}
        configs = {f"run {i}": _settings(run) for i, run in enumerate(runs, start=1)}
        return charts.overlay_chart(curves), views.config_diff_frame(configs)

    def on_refresh(current: list[str] | None) -> tuple:
        runs = list_runs(workspace)
        choices = [(s.id, s.path) for s in runs]
        paths = {s.path for s in runs}
        keep = [p for p in (current or []) if p in paths] or [s.path for s in runs[:DEFAULT_OVERLAY]]
        noun = "run" if len(runs) == 1 else "runs"
        where = f"{workspace}/runs"
        return (
            f"{len(runs)} {noun} in `{where}`",
            views.runs_frame(runs),
            gr.update(choices=choices, value=keep),
            *on_select(keep),
        )

    outputs = [count, table, selected, overlay, diff]
    refresh.click(on_refresh, [selected], outputs)
    selected.input(on_select, [selected], [overlay, diff])
    return {"refresh": (on_refresh, [selected], outputs)}


def _settings(run: RunDir) -> dict[str, Any]:
    """The run's config.json as a dict; a file that cannot be read is shown as such, not raised."""
    try:
        return run.config().to_dict()
    except (OSError, ValueError) as err:
        return {"config.json": f"unreadable ({err.__class__.__name__})"}
