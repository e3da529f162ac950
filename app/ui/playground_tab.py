"""Playground tab: stream text from a language-model run, or classify text with a classifier run."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import gradio as gr

from app.ui import charts, views
from app.ui.i18n import t
from data.errors import DataError
from models import tasks
from models.run_dir import RunDir, list_runs
from models.tasks.spec import CLASSIFY, GENERATE, TAG

_cache: dict[str, Any] = {}  # run path -> (model file mtime, LoadedRun); one entry, models can be large
_cache_lock = threading.Lock()


def build(workspace: str) -> dict[str, Any]:
    """Lay out the Playground tab inside the current gr.Tab; returns its refresh event spec."""
    with gr.Row():
        run = gr.Dropdown([], label=t("Run"), elem_id="play-run", scale=4)
        refresh = gr.Button(t("Refresh"), size="sm", elem_id="play-refresh", scale=0)
    info = gr.Markdown(
        "Train a classifier or a language model first, then pick it here.", elem_id="play-info"
    )
    error = gr.Markdown(visible=False, elem_id="play-error", elem_classes=["textlab-error"])
    with gr.Group(visible=False) as lm_box:
        prompt = gr.Textbox(label=t("Prompt"), lines=3, elem_id="play-prompt")
        with gr.Row():
            temperature = gr.Slider(
                0.0,
                2.0,
                value=0.8,
                step=0.05,
                label=t("Temperature (0 = greedy)"),
                elem_id="play-temperature",
            )
            top_k = gr.Slider(0, 200, value=0, step=1, label=t("Top-k (0 = off)"))
            top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label=t("Top-p (1 = off)"))
            max_tokens = gr.Slider(
                1, 1000, value=200, step=1, label=t("Max new tokens"), elem_id="play-max-tokens"
            )
        generate = gr.Button(t("Generate"), variant="primary", elem_id="play-generate")
        output = gr.Textbox(label=t("Generated text"), lines=8, interactive=False, elem_id="play-output")
    with gr.Group(visible=False) as clf_box:
        text = gr.Textbox(label=t("Text to classify"), lines=3, elem_id="play-text")
        classify = gr.Button(t("Classify"), variant="primary", elem_id="play-classify")
        probs = gr.Label(label=t("Label probabilities"), num_top_classes=10, elem_id="play-probs")
    with gr.Group(visible=False) as tag_box:
        sentence = gr.Textbox(
            label=t("Text to tag (words are split on spaces)"), lines=2, elem_id="play-tag-text"
        )
        tag_button = gr.Button(t("Tag"), variant="primary", elem_id="play-tag")
        tags = gr.HighlightedText(label=t("Tags"), elem_id="play-tags")
    report = gr.Markdown(elem_id="play-report")
    confusion = gr.Plot(
        label=t("Confusion matrix and F1 per class (test split)"), visible=False, elem_id="play-confusion"
    )

    def on_refresh(current: str | None) -> Any:
        choices = views.run_choices(list_runs(workspace), tasks.names(lambda s: s.playable))
        paths = [path for _, path in choices]
        return gr.update(
            choices=choices, value=current if current in paths else (paths[0] if paths else None)
        )

    def on_run(path: str | None) -> tuple:
        if not path:
            return "No run picked.", *(gr.update(visible=False),) * 3, "", gr.update(visible=False)
        target = RunDir(path)
        task, status = target.config().task, target.status()
        line = f"**{target.id}** · {task} · {status.get('state', 'unknown')} at step {status.get('step', 0)}"
        report = target.eval_report()
        interface = tasks.get(task).interface
        return (
            line,
            gr.update(visible=interface == GENERATE),
            gr.update(visible=interface == CLASSIFY),
            gr.update(visible=interface == TAG),
            views.eval_markdown(report),
            gr.update(value=(chart := charts.evaluation_chart(report)), visible=chart is not None),
        )

    def on_classify(path: str | None, sentence: str) -> tuple:
        from models.engine.inference import classify as classify_texts

        try:
            result = classify_texts(_loaded(path), [sentence or ""])[0]
        except DataError as err:
            return None, gr.update(value=views.error_markdown(err), visible=True)
        return result, gr.update(visible=False)

    def on_tag(path: str | None, words: str) -> tuple:
        from models.engine.inference import entity_segments, tag

        try:  # entities as highlighted spans with their type; the words between them plain
            return entity_segments(tag(_loaded(path), words or "")), gr.update(visible=False)
        except DataError as err:
            return None, gr.update(value=views.error_markdown(err), visible=True)

    def on_generate(
        path: str | None, text: str, temp: float, k: float, p: float, n: float
    ) -> Iterator[tuple]:
        from models.engine.inference import generate_stream

        try:
            loaded = _loaded(path)
            shown = text or ""
            yield shown, gr.update(visible=False)
            pieces = generate_stream(
                loaded,
                text or "",
                max_new_tokens=int(n),
                temperature=float(temp),
                top_k=int(k),
                top_p=float(p),
            )
            for piece in pieces:
                shown += piece
                yield shown, gr.skip()
        except DataError as err:
            yield gr.skip(), gr.update(value=views.error_markdown(err), visible=True)

    shown = [info, lm_box, clf_box, tag_box, report, confusion]
    # Refresh re-reads the picked run too: a run picked while it trained keeps the same value when it
    # completes, so `change` never fires and its report would stay "not yet".
    refresh.click(on_refresh, [run], [run]).then(on_run, [run], shown)
    run.change(on_run, [run], shown)
    classify.click(on_classify, [run, text], [probs, error])
    text.submit(on_classify, [run, text], [probs, error])
    tag_button.click(on_tag, [run, sentence], [tags, error])
    generate.click(on_generate, [run, prompt, temperature, top_k, top_p, max_tokens], [output, error])

    def on_shown(current: str | None) -> tuple:
        """The run list refreshed and the picked run's report redrawn (a plot drawn while hidden stays blank)."""
        choices = on_refresh(current)
        return choices, *on_run(choices.get("value"))

    return {"refresh": (on_refresh, [run], [run]), "shown": (on_shown, [run], [run, *shown])}


def _loaded(path: str | None) -> Any:
    """The run's model, loaded once per model file version (a resumed or finished run reloads)."""
    from models.engine.inference import load_run

    if not path:
        raise DataError(
            "no run is picked", hint="choose a run in the Run list (press Refresh after training)."
        )
    run = RunDir(path)
    source = run.trained_model
    stamp = source.stat().st_mtime if source.exists() else None
    with _cache_lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        loaded = load_run(run)
        _cache.clear()
        _cache[path] = (stamp, loaded)
        return loaded
