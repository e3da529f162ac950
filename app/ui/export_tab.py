"""Export tab: turn a finished run into a TFLite or ONNX bundle (models.export) and download it as a zip."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from app.ui import views
from app.ui.i18n import t
from data.errors import DataError
from models import tasks
from models.architecture.presets import PRESET_NAMES
from models.config import FITTED_KINDS, MODEL_KINDS
from models.engine.distillation import AUTO_KIND, AUTO_PRESET, PRUNED_VOCAB_KINDS
from models.export.quantizations import ONNX, QUANTIZATIONS, TFLITE, bundle_name, quantizations
from models.run_dir import ENDED_WELL_STATES, RunDir, list_runs

# Students learn soft labels: the kinds trained by gradient, and the linear kind (its fit takes them).
STUDENT_KINDS = tuple(k for k in MODEL_KINDS if k not in FITTED_KINDS or k in PRUNED_VOCAB_KINDS)


def build(workspace: str) -> dict[str, Any]:
    """Lay out the Export tab inside the current gr.Tab; returns its refresh event spec."""
    gr.Markdown(
        "Export a finished run to TensorFlow Lite (phones, LiteRT) or ONNX (onnxruntime): a bundle with the "
        "model, tokenizer and labels."
    )
    with gr.Row():
        run = gr.Dropdown([], label=t("Run"), elem_id="export-run", scale=4)
        refresh = gr.Button(t("Refresh"), size="sm", elem_id="export-refresh", scale=0)
    with gr.Row():
        fmt = gr.Radio(
            [("TFLite", TFLITE), ("ONNX", ONNX)],
            value=TFLITE,
            label=t("Format"),
            elem_id="export-format",
        )
        quantization = gr.Radio(
            list(QUANTIZATIONS),
            value=QUANTIZATIONS[0],
            label=t("Weights (float16/int8 are smaller)"),
            elem_id="export-quant",
        )
        go = gr.Button(t("Export"), variant="primary", elem_id="export-start", scale=0)
    error = gr.Markdown(visible=False, elem_id="export-error", elem_classes=["textlab-error"])
    report = gr.Markdown(elem_id="export-report")
    download = gr.File(label=t("Bundle (zip)"), interactive=False, elem_id="export-file")
    with gr.Accordion(
        t("Prune this run (a new run: weights set to zero, then a short fine-tune)"), open=False
    ):
        with gr.Row():
            sparsity = gr.Slider(
                0.1, 0.95, value=0.8, step=0.05, label=t("Sparsity (share of each weight matrix set to zero)")
            )
            prune = gr.Button(t("Prune"), elem_id="export-prune", scale=0)
        pruned = gr.Markdown(elem_id="export-pruned")
    with gr.Accordion(t("Distil this classifier into a smaller student (a new run)"), open=False):
        with gr.Row():
            student_kind = gr.Radio(
                [(t("the best for this teacher"), AUTO_KIND), *STUDENT_KINDS],
                value=AUTO_KIND,
                label=t("Model"),
            )
            student_size = gr.Radio(
                [(t("a tenth of the teacher"), AUTO_PRESET), *PRESET_NAMES],
                value=AUTO_PRESET,
                label=t("Size"),
            )
            distil = gr.Button(t("Distil"), elem_id="export-distil", scale=0)
        distilled = gr.Markdown(elem_id="export-distilled")
    gr.Markdown(t("Every export of this run and of its teacher, students, parent and pruned copies"))
    compared = gr.Dataframe(
        views.artifacts_frame([]), interactive=False, wrap=True, elem_id="export-artifacts"
    )

    def on_refresh(current: str | None) -> Any:
        runs = [r for r in list_runs(workspace) if r.state in ENDED_WELL_STATES]
        choices = views.run_choices(runs, tasks.names(lambda s: s.exportable))
        paths = [path for _, path in choices]
        return gr.update(
            choices=choices, value=current if current in paths else (paths[0] if paths else None)
        )

    def on_format(chosen: str, quant: str) -> Any:
        """Offer only the weights the format can be written in (ONNX: float32)."""
        allowed = list(quantizations(chosen or TFLITE))
        return gr.update(choices=allowed, value=quant if quant in allowed else allowed[0])

    def on_export(path: str | None, chosen: str, quant: str) -> tuple:
        if not path:
            return gr.update(value=views.error_markdown("Pick a run to export."), visible=True), "", None
        try:
            from models.export import export_run

            report = export_run(RunDir(path), quant or "float32", fmt=chosen or TFLITE)
        except DataError as err:
            return gr.update(value=views.error_markdown(err), visible=True), "", None
        return gr.update(visible=False), views.export_markdown(report.to_dict()), report.zip_path

    def on_run(path: str | None, chosen: str, quant: str) -> tuple:
        """Show the bundle this run already has on disk for the chosen format and quantization, if any."""
        if not path:
            return "", None
        name = bundle_name(chosen or TFLITE, quant or "float32")
        bundle = RunDir(path).exports_dir / name
        zip_path = RunDir(path).exports_dir / f"{RunDir(path).id}-{name}.zip"
        try:
            saved = json.loads((bundle / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "No export of this run yet.", None
        saved["zip_bytes"] = zip_path.stat().st_size if zip_path.exists() else 0
        return views.export_markdown(saved), str(zip_path) if zip_path.exists() else None

    def on_compare(path: str | None) -> Any:
        from models.export.artifacts import artifacts

        return views.artifacts_frame(artifacts(RunDir(path)) if path else [])

    def on_prune(path: str | None, share: float) -> str:
        """Start a pruning run of the picked run in the background (the Runs tab follows it)."""
        if not path:
            return views.error_markdown("Pick a run to prune.")
        try:
            from models.engine.launcher import launch
            from models.engine.pruning import pruning_config

            started = launch(pruning_config(workspace, path, float(share)))
        except DataError as err:
            return views.error_markdown(err)
        return (
            f"Started `{started.id}`: {float(share):.0%} of each weight matrix set to zero, then a short "
            "fine-tune. Follow it on the **Runs** tab; export it here once it has completed."
        )

    def on_distil(path: str | None, kind: str, size: str) -> str:
        """Start a student of the picked classifier run in the background (the Runs tab follows it)."""
        if not path:
            return views.error_markdown("Pick a classifier run to distil.")
        try:
            from models.engine.distillation import student_for
            from models.engine.launcher import launch

            config = student_for(workspace, path, kind, size)
            started = launch(config)
        except DataError as err:
            return views.error_markdown(err)
        m = config.model
        model = f"{m.kind} student" if m.kind in FITTED_KINDS else f"{m.preset} {m.kind}"
        return (
            f"Started `{started.id}`: a {model} learning from this run's probabilities. Follow it on the "
            "**Runs** tab; its report puts its score and size beside the teacher's."
        )

    refresh.click(on_refresh, [run], [run])
    distil.click(on_distil, [run, student_kind, student_size], [distilled])
    prune.click(on_prune, [run, sparsity], [pruned])
    fmt.change(on_format, [fmt, quantization], [quantization])
    gr.on([run.change, fmt.change, quantization.change], on_run, [run, fmt, quantization], [report, download])
    go.click(on_export, [run, fmt, quantization], [error, report, download]).then(
        on_compare, [run], [compared]
    )
    run.change(on_compare, [run], [compared], trigger_mode="always_last")
    return {"refresh": (on_refresh, [run], [run])}
