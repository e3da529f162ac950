"""Assemble the tabs into one Gradio app and serve it on this machine (offline, no share link by default)."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from app.ui import access, data_tab, export_tab, playground_tab, runs_tab, train_tab
from app.ui.i18n import I18N, t

TITLE = "keras-textlab"
# System fonts only: nothing is fetched from a font CDN, so the app looks the same offline.
THEME = gr.themes.Default(
    font=["ui-sans-serif", "system-ui", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Consolas", "monospace"],
)
CSS = """
.textlab-error { border-left: 4px solid #dc2626; background: #fef2f2; color: #7f1d1d; padding: 8px 12px;
  border-radius: 4px; }
.textlab-note { border-left: 4px solid #d97706; background: #fffbeb; color: #78350f; padding: 8px 12px;
  border-radius: 4px; }
"""


def build_app(workspace: str) -> gr.Blocks:
    """The whole app for ``workspace``: Data, Train, Runs, Playground and Export tabs."""
    Path(workspace).mkdir(parents=True, exist_ok=True)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(
            f"# {TITLE}\nBuild small language models and text classifiers with Keras 3. "
            f"Workspace: `{workspace}`"
        )
        with gr.Tabs():
            with gr.Tab(t("Data"), id="data", elem_id="tab-data"):
                data = data_tab.build(workspace)
            with gr.Tab(t("Train"), id="train", elem_id="tab-train") as train_page:
                train = train_tab.build(workspace, data["dataset"], data["outputs"])
            with gr.Tab(t("Runs"), id="runs", elem_id="tab-runs") as runs_page:
                runs = runs_tab.build(workspace)
            with gr.Tab(t("Playground"), id="playground", elem_id="tab-playground") as play_page:
                play = playground_tab.build(workspace)
            with gr.Tab(t("Export"), id="export", elem_id="tab-export") as export_page:
                export = export_tab.build(workspace)
        # First launch does something real: the demo dataset is loaded, runs on disk are listed.
        for fn, inputs, outputs in (data["initial"], train["refresh"], play["refresh"], export["refresh"]):
            app.load(fn, inputs, outputs)
        # Charts are drawn when their tab is shown: a plot updated while hidden can stay blank. always_last:
        # a tab shown again while its last refresh is pending is refreshed again (the default drops it).
        for page, tab in ((train_page, train), (runs_page, runs), (play_page, play), (export_page, export)):
            page.select(*tab["shown"] if "shown" in tab else tab["refresh"], trigger_mode="always_last")
    return app


def launch(
    workspace: str = "workspace",
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    *,
    environ: MutableMapping[str, str] | None = None,
    block: bool = True,
) -> gr.Blocks:
    """Serve the app; binds to ``host`` (this machine only by default) and, with ``block``, waits for Ctrl-C.
    Any other address (or a share link) gets a login first; raises access.AccessRefused when there is no
    password to ask for (see app/ui/access.py)."""
    env = os.environ if environ is None else environ
    login = access.credentials(host, env, access.terminal_prompt(), share=share)
    # Training runs in child processes that inherit this environment: they must not carry the password.
    env.pop(access.PASSWORD_VAR, None)
    app = build_app(workspace)
    app.queue(default_concurrency_limit=1)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        inbrowser=False,
        theme=THEME,
        css=CSS,
        ssr_mode=False,
        allowed_paths=[str(Path(workspace).resolve())],
        footer_links=["api", "settings"],  # Settings: the language (Chinese, English) and the theme
        show_error=False,
        auth=access.checker(*login) if login else None,
        i18n=I18N,
        prevent_thread_lock=not block,
        # Gradio guards /gradio_api/info but embeds the same schema in the login page it serves to anyone.
        app_kwargs={"middleware": [Middleware(access.HideApiOnLoginPage)]} if login else None,
    )
    return app
