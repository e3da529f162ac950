"""Export tab: turn a finished run into a TFLite bundle (models.export) and download it as a zip."""

from __future__ import annotations

import importlib
from typing import Any

import gradio as gr

from app.ui import views
from data.errors import DataError
from models.run_dir import RunDir, list_runs

EXPORTABLE_STATES = ("completed", "stopped")


def export_available() -> bool:
    """True once models.export is importable (it is built alongside the UI)."""
    try:
        importlib.import_module("models.export")
    except ImportError:
        return False
    return True


def build(workspace: str) -> dict[str, Any]:
    """Lay out the Export tab inside the current gr.Tab; returns its refresh event spec."""
    gr.Markdown("Export a finished run to TensorFlow Lite: a bundle with the model, tokenizer and labels.")
    with gr.Row():
        run = gr.Dropdown([], label="Run", elem_id="export-run", scale=4)
        refresh = gr.Button("Refresh", size="sm", elem_id="export-refresh", scale=0)
    go = gr.Button("Export", variant="primary", elem_id="export-start")
    error = gr.Markdown(visible=False, elem_id="export-error", elem_classes=["textlab-error"])
    report = gr.Markdown(elem_id="export-report")
    download = gr.File(label="Bundle (zip)", interactive=False, elem_id="export-file")

    def on_refresh(current: str | None) -> Any:
        runs = [r for r in list_runs(workspace) if r.state in EXPORTABLE_STATES]
        choices = views.run_choices(runs)
        paths = [path for _, path in choices]
        return gr.update(
            choices=choices, value=current if current in paths else (paths[0] if paths else None)
        )

    def on_export(path: str | None) -> tuple:
        if not export_available():
            message = "Export is not available in this version yet (the `models.export` module is missing)."
            return gr.update(value=views.error_markdown(message), visible=True), "", None
        if not path:
            return gr.update(value=views.error_markdown("Pick a run to export."), visible=True), "", None
        try:
            result = _export(RunDir(path))
        except DataError as err:
            return gr.update(value=views.error_markdown(err), visible=True), "", None
        return gr.update(visible=False), result["report"], result["zip"]

    refresh.click(on_refresh, [run], [run])
    go.click(on_export, [run], [error, report, download])
    return {"refresh": (on_refresh, [run], [run])}


def _export(run: RunDir) -> dict[str, Any]:
    """Call models.export and return {'report': markdown, 'zip': path}."""
    export = importlib.import_module("models.export")
    result = export.export_run(run)
    return {"report": str(result), "zip": None}
