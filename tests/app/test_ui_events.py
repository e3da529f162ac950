"""The app's event wiring: what a user's edits and clicks on tabs set off, read from the built app's config."""

from __future__ import annotations

from pathlib import Path

from app.ui.server import build_app

USER_EDITS = {"input", "change", "select"}


def test_every_edit_ends_on_the_last_value(tmp_path: Path) -> None:
    # Gradio's default for .input and .select, "once", drops a trigger while the event's last run is pending:
    # runs removed from the Runs selection one after another stayed in the chart (seen in CI).
    config = build_app(str(tmp_path / "workspace")).get_config_file()
    names = {c["id"]: c["props"].get("elem_id") or c["type"] for c in config["components"]}
    wired = [d for d in config["dependencies"] if {e for _, e in d["targets"]} & USER_EDITS]
    assert len(wired) > 10, wired  # the tabs' inputs, selections and tab switches are all there
    dropping = [
        [f"{names.get(i, i)}.{e}" for i, e in d["targets"]]
        for d in wired
        if d["trigger_mode"] != "always_last"
    ]
    assert not dropping, dropping
