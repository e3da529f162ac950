"""The UI in Chinese: every label, button and tab the tabs mark for translation has its Chinese text."""

from __future__ import annotations

import ast
from pathlib import Path

from app.ui.i18n import I18N, ZH

UI = Path(__file__).resolve().parents[2] / "app" / "ui"


def _keys_marked() -> dict[str, str]:
    """Every literal passed to t(...) in app/ui, with the file it is in."""
    found = {}
    for path in sorted(UI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "t" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found[arg.value] = path.name
    return found


def test_every_marked_text_has_its_chinese():
    marked = _keys_marked()
    assert len(marked) > 60, "the tabs' labels are marked for translation"
    missing = {key: where for key, where in marked.items() if key not in ZH}
    assert not missing, f"add these to app/ui/i18n.py ZH: {missing}"
    unused = set(ZH) - set(marked) - {"Line length (characters)"}  # chosen at run time in data_tab
    assert not unused, f"no longer used: {unused}"
    assert all(value.strip() and value != key for key, value in ZH.items())


def test_chinese_follows_the_browsers_name_for_it():
    assert I18N.translations_dict["zh-CN"] is ZH and I18N.translations_dict["zh"] is ZH
