"""Data tab: upload or pick a dataset, map its columns, preview it and see its statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from app.ui import charts, files, views
from app.ui.i18n import t
from data.errors import DataError
from data.readers import FORMATS

NONE = "(none)"
UPLOAD_TYPES = list(FORMATS)


def build(workspace: str) -> dict[str, Any]:
    """Lay out the Data tab inside the current gr.Tab; returns the components other tabs use."""
    demos = files.demo_datasets()
    gr.Markdown(
        "Upload your own file (CSV, TSV, JSONL, JSON, Parquet, Excel .xlsx or TXT) or start from a bundled demo."
    )
    with gr.Row():
        upload = gr.File(
            label=t("Drop a dataset here (or click to browse)"),
            file_types=UPLOAD_TYPES,
            type="filepath",
            elem_id="data-upload",
            height=140,
        )
        with gr.Column():
            demo = gr.Dropdown(
                choices=list(demos),
                value=next(iter(demos), None),
                label=t("…or pick a bundled demo dataset"),
                elem_id="data-demo",
            )
            source = gr.Markdown(elem_id="data-source")
    with gr.Row():
        text_col = gr.Dropdown(
            label=t("Text column"), choices=[], elem_id="data-text-column", interactive=True
        )
        label_col = gr.Dropdown(
            label=t("Label column"), choices=[NONE], elem_id="data-label-column", interactive=True
        )
        text_mode = gr.Radio(
            ["corpus", "lines"],
            value="corpus",
            label=t("Plain text: one corpus, or one document per line"),
            visible=False,
            elem_id="data-text-mode",
        )
        sheet = gr.Dropdown(
            label=t("Sheet"), choices=[], visible=False, elem_id="data-sheet", interactive=True
        )
        merge_case = gr.Checkbox(
            False, label=t("Merge labels that differ only by case"), visible=False, elem_id="data-merge-case"
        )
    error = gr.Markdown(visible=False, elem_id="data-error", elem_classes=["textlab-error"])
    preview = gr.Dataframe(
        label=t("Preview (first rows)"), interactive=False, wrap=True, max_height=320, elem_id="data-preview"
    )
    stats = gr.Markdown(elem_id="data-stats")
    with gr.Row():
        balance = gr.Plot(label=t("Class balance"), elem_id="data-balance")
        lengths = gr.Plot(label=t("Text length (characters)"), elem_id="data-lengths")
    dataset = gr.State(None)

    outputs = [dataset, source, text_col, label_col, text_mode, error, preview, stats, balance, lengths]
    outputs += [sheet, merge_case]

    def on_upload(path: str | None) -> tuple:
        if not path:
            return (gr.skip(),) * (len(outputs) + 2)
        # Empty the drop zone (ready for the next file) and the demo picker (the upload replaced it).
        return (*load_upload(path, workspace), None, None)

    def on_demo(name: str | None) -> tuple:
        return (
            load_view(demos.get(name or "", ""), None, None, "corpus")
            if name
            else (gr.skip(),) * len(outputs)
        )

    def on_columns(
        state: dict | None,
        text: str | None,
        label: str | None,
        mode: str,
        book_sheet: str | None,
        merge: bool,
    ) -> tuple:
        if not state:
            return (gr.skip(),) * len(outputs)
        label = None if label in (None, NONE) else label
        if book_sheet != state.get("sheet"):  # another sheet has other columns: detect them afresh
            text, label = None, None
        return load_view(
            state["path"], text or None, label, mode, shown_name=state["name"], sheet=book_sheet, merge=merge
        )

    upload.upload(on_upload, [upload], [*outputs, upload, demo])
    demo.input(on_demo, [demo], outputs, trigger_mode="always_last")  # a pick made while one loads: too
    controls = (text_col, label_col, text_mode, sheet, merge_case)
    # one event for all five, always_last: choices made in quick succession load once more, with all of them,
    # instead of separate loads finishing in any order (or the default "once" dropping the later choice)
    gr.on([c.input for c in controls], on_columns, [dataset, *controls], outputs, trigger_mode="always_last")
    return {"dataset": dataset, "demo": demo, "outputs": outputs, "initial": (on_demo, [demo], outputs)}


PREVIEW_BYTES = 64 << 10  # a streamed corpus's preview: its first lines
PREVIEW_LINES = 50


def load_upload(path: str, workspace: str) -> tuple:
    """The upload callback's work: refuse an oversized file, copy it into the workspace, then ``load_view``."""
    from data.loaders import check_file_size

    name = Path(path).name  # Gradio keeps the uploaded file's own name in its temp folder
    try:
        if not _streamed(path):  # a large .txt corpus is never loaded whole: no table limit applies
            check_file_size(path, name)  # before copying: a refused file must not fill the workspace
        saved = files.save_upload(path, workspace)
    except OSError as err:  # a full disk or an unreadable file: say so, keep the app running
        return _error_view(
            name,
            DataError(
                f"could not be saved in the workspace ({err.strerror or err}).",
                file=name,
                hint=f"free disk space or fix permissions in {workspace}, then upload it again.",
            ),
        )
    except (DataError, ValueError) as err:
        return _error_view(name, err)
    return load_view(str(saved), None, None, "corpus", shown_name=name)


def _error_view(name: str, err: Exception) -> tuple:
    """Every Data-tab output for a file that could not be loaded: the message, nothing else (no columns,
    preview or charts of a file shown before it)."""
    return (
        None,
        f"**Dataset:** `{name}`",
        gr.update(choices=[], value=None, visible=False),
        gr.update(choices=[NONE], value=NONE, visible=False),
        gr.update(visible=False),
        gr.update(value=views.error_markdown(err), visible=True),
        gr.update(value=None, visible=False),
        "",
        gr.update(value=None, visible=False),
        None,
        gr.update(visible=False),
        gr.update(visible=False),
    )


def _as_shown(err: DataError, path: str, shown_name: str) -> DataError:
    """The same error naming the file as the user dropped it, not its copy in the workspace."""
    if not err.file or Path(err.file).resolve() != Path(path).resolve():
        return err
    return DataError(err.problem, file=shown_name, row=err.row, column=err.column, hint=err.hint)


def load_view(
    path: str,
    text_column: str | None,
    label_column: str | None,
    text_mode: str,
    shown_name: str | None = None,
    sheet: str | None = None,
    merge: bool = False,
) -> tuple:
    """Load ``path`` with the data layer and format every Data-tab output; DataError becomes a message.

    ``shown_name``: the name the user knows the file by (an upload's own name; its saved copy may differ)."""
    from data.loaders import load_dataset
    from data.stats import describe

    name = shown_name or Path(path).name
    if _streamed(path):
        return _corpus_view(path, name, text_mode)
    try:
        columns = _columns(path, text_mode, sheet)
        note = ""
        try:  # labels when the file has them; otherwise a text-only dataset for language models
            loaded = load_dataset(
                path,
                text_column=text_column,
                label_column=label_column,
                text_mode=text_mode,
                need_labels=columns is not None,
                sheet=sheet,
                merge_label_case=merge,
            )
        except DataError as err:
            if label_column is not None or columns is None:
                raise
            loaded = load_dataset(path, text_column=text_column, text_mode=text_mode, sheet=sheet)
            note = f"No label column was found, so this dataset suits language models only. ({err})"
        stats = describe(loaded)
    except DataError as err:
        return _error_view(name, _as_shown(err, path, name))
    state = {
        "path": str(path),
        "name": name,
        "text_column": loaded.text_column,
        "label_column": loaded.label_column,
        "text_mode": loaded.text_mode,
        "sheet": loaded.sheet,  # the sheet read, as the picker shows it
        "merge_label_case": bool(merge),
        "rows": int(len(loaded.frame)),
        "num_classes": len(loaded.classes),
        "labelled": loaded.labelled,
    }
    tabular = columns is not None
    hidden = {"warnings", "classes"}
    if not loaded.labelled:
        hidden |= {"num_classes", "imbalance_ratio", "conflicting_duplicates"}
    per_line = len(loaded.frame) == 1
    if per_line:  # one document: its lines are what the statistics count ("1 rows" says nothing)
        hidden |= {"rows", "duplicate_texts"}
    length_label = "Line length (characters)" if per_line else "Text length (characters)"
    warnings = [*loaded.warnings, note] if note else loaded.warnings
    length_frame = views.length_histogram_frame(_length_basis(loaded.frame))
    return (
        state,
        f"**Dataset:** `{name}` · "
        + (f"{state['rows']} rows" if state["rows"] != 1 else "1 document (the whole file is one corpus)")
        + (f" · {state['num_classes']} classes" if tabular else ""),
        gr.update(choices=columns or [], value=loaded.text_column, visible=tabular),
        gr.update(choices=[NONE, *(columns or [])], value=loaded.label_column or NONE, visible=tabular),
        gr.update(value=loaded.text_mode or "corpus", visible=not tabular),
        gr.update(value="", visible=False),
        gr.update(value=views.preview_frame(loaded.frame.reset_index()), visible=True),
        views.stats_markdown({k: v for k, v in stats.items() if k not in hidden}, warnings),
        gr.update(
            value=charts.bar_chart(views.class_balance_frame(loaded.frame), "label", "count", "label")
            if loaded.labelled
            else None,
            visible=loaded.labelled,
        ),
        gr.update(
            value=charts.bar_chart(length_frame, "length", "count", length_label), label=t(length_label)
        ),
        gr.update(choices=loaded.sheets, value=loaded.sheet, visible=len(loaded.sheets) > 1),
        gr.update(value=bool(merge), visible=loaded.labelled),
    )


def _streamed(path: str) -> bool:
    """A plain-text corpus large enough that a language model streams it (data.corpus_stream)."""
    from data.config import DataConfig
    from data.corpus_stream import streams

    return Path(path).suffix.lower() == ".txt" and Path(path).is_file() and streams(DataConfig(path=path))


def _corpus_view(path: str, name: str, text_mode: str) -> tuple:
    """A streamed corpus: its size and first lines only (it is never read whole here); a language model trains
    on it as a stream."""
    import pandas as pd

    size = Path(path).stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(PREVIEW_BYTES).decode("utf-8", errors="replace").splitlines()[:-1] or [""]
    state = {"path": str(path), "name": name, "text_column": "text", "label_column": None,
             "text_mode": text_mode or "corpus", "sheet": None, "merge_label_case": False, "rows": 1,
             "num_classes": 0, "labelled": False}  # fmt: skip
    note = (
        f"{size / 1e6:,.1f} MB: too large to preview whole, and it need not fit in memory. A language model "
        "(Train tab: Language model) reads it as a stream: a tokenizer learnt from a sample, tokens encoded once "
        "and cached for later runs. Tables and classifiers cannot use it."
    )
    lines = pd.DataFrame({"text": head[:PREVIEW_LINES]})
    return (
        state,
        f"**Dataset:** `{name}` · a {size / 1e6:,.0f} MB corpus, streamed for language models",
        gr.update(choices=[], value=None, visible=False),
        gr.update(choices=[NONE], value=NONE, visible=False),
        gr.update(value=text_mode or "corpus", visible=True),
        gr.update(value="", visible=False),
        gr.update(value=views.preview_frame(lines.reset_index()), visible=True),
        views.stats_markdown({"size_mb": round(size / 1e6, 1)}, [note]),
        gr.update(value=None, visible=False),
        gr.update(value=None),
        gr.update(choices=[], value=None, visible=False),
        gr.update(value=False, visible=False),
    )


def _columns(path: str, text_mode: str, sheet: str | None = None) -> list[str] | None:
    """Column names of a table file (None for plain text), for the mapping dropdowns."""
    from data.loaders import max_file_bytes
    from data.readers import read_table

    fmt = FORMATS.get(Path(path).suffix.lower())
    if (
        fmt in (None, "txt")
        or not Path(path).is_file()
        or not 0 < Path(path).stat().st_size <= max_file_bytes()
    ):
        return None  # load_dataset explains what is wrong with the file (without reading a huge one twice)
    table = read_table(Path(path), fmt, text_mode=text_mode, max_rows=5, sheet=sheet)
    return [str(c) for c in table.frame.columns]


def _length_basis(frame: Any) -> Any:
    """A single-document corpus is charted by line length; a table by row length."""
    if len(frame) == 1:
        import pandas as pd

        return pd.DataFrame({"text": [line for line in frame["text"].iloc[0].split("\n") if line.strip()]})
    return frame
