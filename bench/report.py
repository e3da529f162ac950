"""Write a benchmark's JSON results and replace its section of BENCHMARKS.md (command, machine, date)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\nEvery figure below was measured by the command shown, on the machine and date shown.\n"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}){mem}, no GPU, Python {platform.python_version()}"


def command_line() -> str:
    return " ".join([".venv/bin/python", "-m", _module_name()] + sys.argv[1:])


def _module_name() -> str:
    main = Path(sys.argv[0]).resolve()
    try:
        return ".".join(main.relative_to(ROOT).with_suffix("").parts)
    except ValueError:
        return main.name


def git_commit() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write(name: str, title: str, results: dict[str, Any], table_md: str, notes: str = "") -> None:
    """Save results JSON and put a section (between markers) for ``name`` into BENCHMARKS.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": command_line(),
        "machine": machine(),
        "date": _dt.date.today().isoformat(),
        "commit": git_commit(),
    }
    (RESULTS / f"{name}.json").write_text(json.dumps({**meta, **results}, indent=2, default=str) + "\n")
    section = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"- Command: `{meta['command']}`\n- Machine: {meta['machine']}\n- Date: {meta['date']} (commit {meta['commit']})\n\n"
        f"{table_md.strip()}\n\n{notes.strip()}\n<!-- /bench:{name} -->\n"
    )
    text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S)
    text = (
        pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    )
    BENCHMARKS_MD.write_text(text, encoding="utf-8")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
