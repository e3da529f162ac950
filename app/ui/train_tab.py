"""Train tab: choose task, model and optimisation settings, start/stop/resume a run and watch it live."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import gradio as gr

from app.ui import charts, forms, views
from app.ui.data_tab import load_view
from app.ui.i18n import t
from data.config import TOKENIZER_KINDS
from data.errors import DataError
from models.architecture.presets import PRESET_NAMES
from models.config import BACKENDS, CLASS_WEIGHTS, MODEL_KINDS, PRECISIONS
from models.run_dir import ACTIVE_STATES, RunDir, list_runs


def build(workspace: str, dataset: gr.State, data_outputs: list[Any]) -> dict[str, Any]:
    """Lay out the Train tab inside the current gr.Tab; returns the components other tabs use.

    ``data_outputs``: the Data tab's outputs (data_tab.load_view's), which "train again" loads a run's data into.
    """
    data_info = gr.Markdown("No dataset yet: pick one on the **Data** tab.", elem_id="train-data")
    with gr.Row():
        task = gr.Dropdown(
            list(forms.TASK_CHOICES),
            value=forms.default_task_label(True),
            label=t("Task"),
            elem_id="train-task",
        )
        from_run = gr.Dropdown(
            [], label=t("Pretrained run to start from"), visible=False, elem_id="train-from"
        )
        kind = gr.Radio(list(MODEL_KINDS), value=MODEL_KINDS[0], label=t("Model"), elem_id="train-kind")
        preset = gr.Radio(list(PRESET_NAMES), value=PRESET_NAMES[0], label=t("Size"), elem_id="train-size")
    recipe = gr.Checkbox(
        True,
        label=t(
            "Choose settings from the data (recommended): the fields below show the choices; a field you "
            "edit stays yours"
        ),
        elem_id="train-recipe",
    )
    own = gr.State([])  # the recipe settings the user edited (forms.TrainForm.own)
    with gr.Row():
        epochs = gr.Number(3, label=t("Epochs"), precision=0, minimum=1, elem_id="train-epochs")
        batch = gr.Number(32, label=t("Batch size"), precision=0, minimum=1, elem_id="train-batch")
        lr = gr.Number(1e-3, label=t("Learning rate"), minimum=0, elem_id="train-lr")
        seq_len = gr.Number(
            128, label=t("Sequence length (tokens)"), precision=0, minimum=8, elem_id="train-seq"
        )
        max_steps = gr.Number(0, label=t("Max steps (0 = no cap)"), precision=0, elem_id="train-max-steps")
    with gr.Accordion(t("Advanced"), open=False):
        with gr.Row():
            backend = gr.Dropdown(
                list(BACKENDS), value=_default_backend(), label=t("Keras backend"), elem_id="train-backend"
            )
            precision = gr.Dropdown(
                list(PRECISIONS), value=PRECISIONS[0], label=t("Precision"), elem_id="train-precision"
            )
            tokenizer = gr.Radio(
                list(TOKENIZER_KINDS),
                value=TOKENIZER_KINDS[0],
                label=t("Tokenizer"),
                elem_id="train-tokenizer",
            )
            log_every = gr.Number(
                10, label=t("Log every N steps"), precision=0, minimum=1, elem_id="train-log-every"
            )
            name = gr.Textbox(label=t("Run name (optional)"), elem_id="train-name")
        with gr.Row():
            val_fraction = gr.Number(
                0.1, label=t("Validation share"), minimum=0, maximum=0.5, elem_id="train-val-fraction"
            )
            test_fraction = gr.Number(
                0.1, label=t("Test share"), minimum=0, maximum=0.5, elem_id="train-test-fraction"
            )
            seed = gr.Number(1337, label=t("Seed (split and training)"), precision=0, elem_id="train-seed")
            class_weight = gr.Radio(
                list(CLASS_WEIGHTS),
                value=CLASS_WEIGHTS[0],
                label=t("Class weights (balanced: a rare class counts as much as a common one)"),
                elem_id="train-class-weight",
            )
    estimate = gr.Markdown(elem_id="train-estimate")
    with gr.Row():
        start = gr.Button(t("Start training"), variant="primary", elem_id="train-start")
        stop = gr.Button(t("Stop"), variant="stop", elem_id="train-stop")
        resume = gr.Button(t("Resume"), elem_id="train-resume")
    with gr.Accordion(t("Try several settings"), open=False, elem_id="train-search-box"):
        with gr.Row():
            trials = gr.Number(6, label=t("Settings to try"), precision=0, minimum=1, elem_id="train-trials")
            minutes = gr.Number(5, label=t("Within minutes"), minimum=0.5, elem_id="train-minutes")
            search = gr.Button(t("Search"), elem_id="train-search")
        search_info = gr.Markdown(
            "Trains the model kinds, sizes, learning rates and dropouts Optuna proposes, starting from the "
            "recipe, ranked by validation macro-F1; fields you edited stay yours.",
            elem_id="train-search-info",
        )
    error = gr.Markdown(visible=False, elem_id="train-error", elem_classes=["textlab-error"])
    differs = gr.Markdown(visible=False, elem_id="train-differs", elem_classes=["textlab-note"])
    with gr.Row(equal_height=True):
        watched = gr.Dropdown([], label=t("Run shown below"), elem_id="train-run", scale=4)
        again = gr.Button(t("Train again with these settings"), elem_id="train-again", scale=1)
    base = gr.State("")  # the run "train again" loaded (forms.TrainForm.base_run)
    progress = gr.Markdown(views.progress_markdown(None, {}, []), elem_id="train-progress")
    chart = gr.Plot(label=t("Training curves"), elem_id="train-chart")
    seen = gr.State("")  # what the chart shows, so unchanged ticks do not redraw it
    timer = gr.Timer(1.0)

    form_inputs = [task, kind, preset, backend, precision, tokenizer, epochs, batch, lr, seq_len, max_steps]
    form_inputs += [
        log_every,
        from_run,
        name,
        recipe,
        own,
        val_fraction,
        test_fraction,
        seed,
        class_weight,
        base,
    ]
    # Train-form fields the recipe fills in, by their RunConfig OVERRIDES key (forms.recipe_fields).
    recipe_widgets = {"kind": kind, "preset": preset, "tokenizer": tokenizer, "epochs": epochs}
    recipe_widgets |= {"batch_size": batch, "learning_rate": lr, "seq_len": seq_len}

    def read_form(values: list[Any]) -> forms.TrainForm:
        return forms.TrainForm(*values)

    def on_estimate(data: dict | None, *values: Any) -> str:
        try:
            config = forms.run_config(workspace, data or {"path": "(not chosen)"}, read_form(list(values)))
            return forms.size_estimate(config, (data or {}).get("num_classes"), (data or {}).get("rows"))
        except Exception as err:  # an estimate is advice: never let it break the form
            return f"Size estimate unavailable: {err}"

    def on_start(data: dict | None, *values: Any) -> tuple:
        from models.engine.launcher import launch

        try:
            run = launch(forms.run_config(workspace, data, read_form(list(values))))
        except (DataError, ValueError) as err:
            return gr.update(value=views.error_markdown(err), visible=True), gr.update()
        return gr.update(visible=False), _watch_update(workspace, str(run.path))

    def on_search(data: dict | None, n: Any, budget: Any, *values: Any) -> tuple:
        from models.engine.launcher import launch_search

        form = read_form(list(values))
        try:
            config = forms.run_config(workspace, data, form)
            base = launch_search(config, int(n or 1), float(budget or 1), forms.own_settings(form))
        except (DataError, ValueError) as err:
            return gr.update(value=views.error_markdown(err), visible=True), gr.update()
        stamp = base.name.removesuffix("-config.json")
        info = (
            f"**Search {stamp} started:** up to {int(n or 1)} settings within {float(budget or 1):g} minutes. "
            f"Each trial is a run named `search {stamp} #k` (Runs tab); the ranking is saved in "
            f"`searches/{stamp}-ranking.json`, best first."
        )
        return gr.update(visible=False), info

    def on_stop(path: str | None) -> Any:
        if path:
            RunDir(path).request_stop()
        return gr.update(visible=False)

    def on_resume(path: str | None) -> Any:
        from models.engine.launcher import launch_resume

        if not path:
            return gr.update(value=views.error_markdown("Pick a run to resume."), visible=True)
        try:
            launch_resume(RunDir(path))
        except DataError as err:  # e.g. a completed run: nothing to resume
            return gr.update(value=views.error_markdown(err), visible=True)
        return gr.update(visible=False)

    def on_tick(path: str | None, shown: str) -> tuple:
        if not path:
            return views.progress_markdown(None, {}, []), gr.skip(), shown
        run = RunDir(path)
        status, records = run.status(), run.metrics()
        if run.summary().state == "interrupted":  # said running, but its process is gone
            status = {**status, "state": "interrupted", "message": "the training process ended; press Resume"}
        signature = f"{path}:{len(records)}"
        chart_update = gr.skip()
        if signature != shown:
            chart_update = charts.train_chart(run.id, records, perplexity=_is_language_model(run))
        return views.progress_markdown(run.id, status, records), chart_update, signature

    def on_recipe(data: dict | None, *values: Any) -> list[Any]:
        """Show the recipe's choices in the fields it fills (the user's own edits stay as they are)."""
        form = read_form(list(values))
        try:
            config = forms.run_config(workspace, data, form)
        except (DataError, ValueError):
            return [gr.skip()] * len(recipe_widgets)
        if not config.recipe:
            return [gr.skip()] * len(recipe_widgets)
        chosen = forms.recipe_fields(config)
        return [gr.skip() if key in form.own else chosen[key] for key in recipe_widgets]

    def on_again(path: str | None) -> tuple:
        """The shown run's data into the Data tab and its settings into the form (forms.form_of)."""
        problem: Any = "Pick a run to train again." if not path else None
        if path:
            config = RunDir(path).config()
            data = forms.dataset_of(config)
            if not os.path.isfile(data["path"]):
                problem = DataError(
                    "is not there any more, so that run cannot be trained again as it was.",
                    file=data["path"],
                    hint="put the file back, or load another on the Data tab and set the form by hand.",
                )
        if problem is not None:  # the message, and every other output as it is
            shown = gr.update(value=views.error_markdown(problem), visible=True)
            return (shown, *[gr.skip()] * (len(data_outputs) + len(form_inputs)))
        view = load_view(
            data["path"],
            data["text_column"],
            data["label_column"],
            data["text_mode"] or "corpus",
            sheet=data["sheet"],
            merge=bool(data["merge_label_case"]),
        )
        fields = {**forms.form_of(config), "base_run": path}
        values = [fields[f.name] for f in dataclasses.fields(forms.TrainForm)]
        return (gr.update(visible=False), *view, *values)

    def on_differs(path: str | None, data: dict | None, label: str) -> Any:
        if not path:
            return gr.update(visible=False)
        run = RunDir(path)
        note = forms.differs_from_shown(run.config(), run.id, data, label)
        return gr.update(value=note, visible=bool(note))

    def on_own(owned: list[str], key: str) -> list[str]:
        return sorted(set(owned) | {key})

    def on_dataset(data: dict | None, again_from: str) -> tuple:
        if not data:
            return "No dataset yet: pick one on the **Data** tab.", gr.update()
        columns = f"text column `{data['text_column']}`" if data.get("text_column") else "plain text"
        if data.get("label_column"):
            columns += f", label column `{data['label_column']}` ({data['num_classes']} classes)"
        info = f"**Dataset:** `{data['name']}` · {data['rows']} rows · {columns}"
        if again_from and data["path"] == RunDir(again_from).config().data.path:
            return info, gr.skip()  # "train again" set the task with the data
        return info, forms.default_task_label(bool(data.get("labelled")))

    def on_task(label: str, current: str | None) -> Any:
        distill = forms.is_distill(label)
        if not (forms.is_finetune(label) or distill):
            return gr.update(visible=False)
        parents = forms.teacher_tasks() if distill else forms.parent_tasks()
        choices = views.run_choices(list_runs(workspace), parents)
        keep = current in [value for _, value in choices]  # e.g. the parent "train again" set
        return gr.update(
            visible=True,
            choices=choices,
            value=current if keep else choices[0][1] if choices else None,
            label=t("Teacher run (a finished classifier)") if distill else t("Pretrained run to start from"),
        )

    dataset.change(on_dataset, [dataset, base], [data_info, task])
    for key, widget in recipe_widgets.items():
        widget.input(lambda owned, key=key: on_own(owned, key), [own], [own], trigger_mode="always_last")
    recipe.change(lambda on, owned: [] if on else owned, [recipe, own], [own])  # on again: all re-chosen
    gr.on(
        [dataset.change, task.change, recipe.change, own.change, from_run.change],
        on_recipe,
        [dataset, *form_inputs],
        list(recipe_widgets.values()),
        show_progress="hidden",
        trigger_mode="always_last",
    )
    task.change(on_task, [task, from_run], [from_run])
    again.click(on_again, [watched], [error, *data_outputs, *form_inputs])
    gr.on(
        [watched.change, dataset.change, task.change],
        on_differs,
        [watched, dataset, task],
        [differs],
        show_progress="hidden",
        trigger_mode="always_last",
    )
    gr.on(
        [c.change for c in (dataset, *form_inputs)],
        on_estimate,
        [dataset, *form_inputs],
        [estimate],
        show_progress="hidden",
        trigger_mode="always_last",
    )
    start.click(on_start, [dataset, *form_inputs], [error, watched])
    search.click(on_search, [dataset, trials, minutes, *form_inputs], [error, search_info])
    stop.click(on_stop, [watched], [error])
    resume.click(on_resume, [watched], [error])
    timer.tick(on_tick, [watched, seen], [progress, chart, seen], show_progress="hidden")
    watched.change(lambda: "", None, [seen])  # a new run: redraw the chart on the next tick
    return {
        "watched": watched,
        "refresh": (lambda: _watch_update(workspace, None), None, [watched]),
        "shown": (lambda: "", None, [seen]),  # redraw the chart at the next tick
    }


def _watch_update(workspace: str, select: str | None) -> Any:
    """Run dropdown choices; selects ``select``, else the newest active run, else the newest run."""
    runs = list_runs(workspace)
    choices = views.run_choices(runs, with_state=False)  # the state is shown live below
    if select is None and runs:
        active = [r for r in runs if r.state in ACTIVE_STATES]
        select = (active or runs)[0].path
    return gr.update(choices=choices, value=select)


def _is_language_model(run: RunDir) -> bool:
    """Whether the run's curves read better as perplexity (a pretraining task) than as scores in [0, 1]."""
    from models import tasks

    try:
        return tasks.get(run.config().task).pretrains
    except Exception:  # a config the app cannot read still gets its loss chart
        return False


def _default_backend() -> str:
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    return backend if backend in BACKENDS else "tensorflow"
