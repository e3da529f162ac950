"""Runs tab: every run on disk, filtered and sorted; compare runs; rename, delete or train a run more."""

from __future__ import annotations

from typing import Any

import gradio as gr

from app.ui import charts, views
from app.ui.i18n import t
from data.errors import DataError
from models.run_dir import ACTIVE_STATES, RunDir, list_runs

DEFAULT_OVERLAY = 3


def build(workspace: str) -> dict[str, Any]:
    """Lay out the Runs tab inside the current gr.Tab; returns its refresh event spec."""
    with gr.Row():
        refresh = gr.Button(t("Refresh"), size="sm", elem_id="runs-refresh", scale=0)
        count = gr.Markdown(elem_id="runs-count")
    with gr.Row():
        query = gr.Textbox(
            label=t("Filter (words in id, name, task, model, data or state)"), elem_id="runs-filter", scale=3
        )
        order = gr.Dropdown(
            list(views.RUN_ORDERS), value="newest first", label=t("Sort"), elem_id="runs-sort"
        )
    table = gr.Dataframe(
        headers=views.RUN_COLUMNS,
        interactive=False,
        wrap=True,
        max_height=360,
        column_widths=["22%", "10%", "10%", "8%", "11%", "8%", "8%", "5%", "11%", "7%"],
        elem_id="runs-table",
    )
    with gr.Accordion(t("Manage a run"), open=False, elem_id="runs-manage-box"):
        with gr.Row():
            target = gr.Dropdown([], label=t("Run"), elem_id="runs-manage", scale=3)
            new_name = gr.Textbox(label=t("New name"), elem_id="runs-new-name", scale=2)
            rename = gr.Button(t("Rename"), elem_id="runs-rename", scale=1)
        with gr.Row():
            more = gr.Number(1, label=t("More epochs"), precision=0, minimum=1, elem_id="runs-more-epochs")
            extend = gr.Button(t("Train N more epochs"), elem_id="runs-extend")
            delete = gr.Button(t("Delete…"), variant="stop", elem_id="runs-delete")
        question = gr.Markdown(visible=False, elem_id="runs-confirm-text")
        with gr.Row():
            yes = gr.Button(t("Yes, delete it"), variant="stop", visible=False, elem_id="runs-confirm-delete")
            no = gr.Button(t("Cancel"), visible=False, elem_id="runs-cancel")
        confirm = [question, yes, no]  # shown together while a delete waits for its answer
        message = gr.Markdown(elem_id="runs-message")
    selected = gr.Dropdown(
        [], multiselect=True, label=t("Compare runs (loss curves)"), elem_id="runs-selected"
    )
    overlay = gr.Plot(label=t("Loss"), elem_id="runs-chart")
    diff = gr.Dataframe(
        label=t("Settings that differ between the selected runs (numbered as in the chart)"),
        interactive=False,
        wrap=True,
        elem_id="runs-diff",
    )

    def on_select(paths: list[str] | None) -> tuple:
        runs = [RunDir(p) for p in paths or []]
        curves = {run.id: run.metrics() for run in runs}
        configs = {f"run {i}": _settings(run) for i, run in enumerate(runs, start=1)}
        return charts.overlay_chart(curves), views.config_diff_frame(configs)

    def on_refresh(current: list[str] | None, words: str, sort: str, picked: str | None) -> tuple:
        runs = list_runs(workspace)
        choices = [(s.id, s.path) for s in runs]
        paths = {s.path for s in runs}
        keep = [p for p in (current or []) if p in paths] or [s.path for s in runs[:DEFAULT_OVERLAY]]
        shown = views.arrange_runs(runs, words, sort)
        noun = "run" if len(runs) == 1 else "runs"
        where = f"{workspace}/runs"
        counted = f"{len(runs)} {noun} in `{where}`" + (
            f", {len(shown)} shown" if len(shown) != len(runs) else ""
        )
        return (
            counted,
            views.runs_frame(shown),
            gr.update(choices=choices, value=keep),
            *on_select(keep),
            gr.update(choices=choices, value=picked if picked in paths else None),
        )

    def on_rename(path: str | None, name: str) -> tuple:
        from models.engine.manage import rename_run

        try:
            run = rename_run(_picked(path), name)
        except DataError as err:
            return views.error_markdown(err), gr.skip()
        return f"`{run.id}` is now named **{run.config().name}**.", ""

    def on_extend(path: str | None, epochs: Any) -> str:
        from models.engine.launcher import launch_resume
        from models.engine.manage import extend_run

        try:
            run = extend_run(_picked(path), int(epochs or 0))
            launch_resume(run)
        except DataError as err:
            return views.error_markdown(err)
        total = run.config().train.epochs
        return (
            f"`{run.id}` trains {int(epochs)} more epoch(s), to {total} in all: see it on the **Train** tab."
        )

    def on_delete(path: str | None) -> tuple:
        from models.engine.manage import folder_size

        try:
            run = _picked(path)
        except DataError as err:
            return (*_asking(False), views.error_markdown(err))
        running = run.summary().state in ACTIVE_STATES
        ask = (
            f"Delete `{run.id}` and its {folder_size(run.path) / 1e6:.1f} MB of files (model, checkpoints, "
            "exports)? This cannot be undone." + (" It is training: it is stopped first." if running else "")
        )
        return (*_asking(True, ask), "")

    def on_confirm(path: str | None) -> tuple:
        from models.engine.manage import delete_run

        try:
            run = _picked(path)
            children = delete_run(run)
        except DataError as err:
            return (*_asking(False), views.error_markdown(err))
        note = f"Deleted `{run.id}`."
        if children:
            note += f" Fine-tuned from it (they keep their own weights): {', '.join(children)}."
        return (*_asking(False), note)

    inputs = [selected, query, order, target]
    outputs = [count, table, selected, overlay, diff, target]
    refresh.click(on_refresh, inputs, outputs)
    gr.on([query.change, order.input], on_refresh, inputs, outputs, trigger_mode="always_last")
    # always_last: removing runs one after another must end on the last selection (the default, "once",
    # dropped the clicks made while a redraw was pending and left removed runs in the chart)
    selected.input(on_select, [selected], [overlay, diff], trigger_mode="always_last")
    rename.click(on_rename, [target, new_name], [message, new_name]).then(on_refresh, inputs, outputs)
    extend.click(on_extend, [target, more], [message]).then(on_refresh, inputs, outputs)
    delete.click(on_delete, [target], [*confirm, message])
    no.click(lambda: _asking(False), None, confirm)
    yes.click(on_confirm, [target], [*confirm, message]).then(on_refresh, inputs, outputs)
    return {"refresh": (on_refresh, inputs, outputs)}


def _asking(shown: bool, question: str = "") -> tuple:
    """Updates of the delete confirmation: its question, Yes and Cancel, shown or hidden together."""
    return gr.update(value=question, visible=shown), gr.update(visible=shown), gr.update(visible=shown)


def _picked(path: str | None) -> RunDir:
    """The run picked in 'Manage a run', or a message saying to pick one."""
    if not path:
        raise DataError("no run is picked", hint="choose one in the Run list of 'Manage a run'.")
    run = RunDir(path)
    if not run.config_path.is_file():
        raise DataError(f"run '{run.id}' is not there any more", hint="press Refresh to list the runs again.")
    return run


def _settings(run: RunDir) -> dict[str, Any]:
    """The run's config.json as a dict; a file that cannot be read is shown as such, not raised."""
    try:
        return run.config().to_dict()
    except (OSError, ValueError) as err:
        return {"config.json": f"unreadable ({err.__class__.__name__})"}
