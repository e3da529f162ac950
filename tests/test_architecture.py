"""The layer rule, read from the source: no import circle (lazy imports included) and no arrow upward."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("data", "models", "app")

# Lowest layer first; a module may import its own layer and the layers before it, never a later one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("data",),
    ("models.config", "models.run_dir", "models"),  # "models": the package's own (empty) __init__
    ("models.tasks",),
    ("models.architecture",),
    ("models.engine",),
    ("models.export",),
    ("app",),
)
TASK_NAMES = ("causal_lm", "masked_lm", "classifier", "token_classifier")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every project module ``path`` imports anywhere (top level, inside functions, under TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports pkg.mod; `from mod import name` imports mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                targets = [arg.value]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = source_modules()
    known = set(modules)
    graph = {name: imports_of(name, path, known) for name, path in modules.items()}
    # The task registry imports its spec modules by discovery (importlib), which the walker cannot read.
    graph["models.tasks"] |= {f"models.tasks.{task}" for task in TASK_NAMES}
    return graph


def layer_of(module: str) -> int:
    """The layer of the longest LAYERS prefix that names ``module`` or a package above it."""
    matches = [
        (len(p), rank)
        for rank, prefixes in enumerate(LAYERS)
        for p in prefixes
        if module == p or module.startswith(p + ".")
    ]
    if matches:
        return max(matches)[1]
    raise AssertionError(f"{module} is in no layer of tests/test_architecture.py LAYERS: place it")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read():
    graph = import_graph()
    assert "models.engine.train" in graph
    assert "data.errors" in graph["models.engine.train"]  # the walker sees ordinary imports


def test_no_import_circles():
    found = cycles(import_graph())
    assert not found, "import circles (lazy imports count):\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_upward_imports():
    upward = [
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def test_layers_are_read_by_the_longest_prefix():
    assert layer_of("models") < layer_of("models.tasks.spec") < layer_of("models.engine.train")
    assert layer_of("data.tokenizers.char") == 0 and layer_of("app.ui.forms") == len(LAYERS) - 1


def test_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_names_live_in_their_spec(task):
    """A task's name is written only in its spec module (models/tasks/<task>.py); everything else asks the registry."""
    pattern = re.compile(rf"""["']{task}["']""")
    own = ROOT / "models" / "tasks" / f"{task}.py"
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in source_modules().values()
        if path != own
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert own.exists()
    assert not offenders, f"'{task}' written outside {own.relative_to(ROOT)}:\n" + "\n".join(offenders)
