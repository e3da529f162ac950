"""A run directory on disk: the contract between the engine, the CLI and the UI."""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.errors import DataError
from data.fileio import append_jsonl, atomic_write_json, read_jsonl
from models.config import RunConfig

RUNS_SUBDIR = "runs"
ACTIVE_STATES = ("queued", "running", "stopping")
ENDED_WELL_STATES = ("completed", "stopped")  # a model to use, evaluate, export or resume


class RunDir:
    """Paths and small state files of one run; every write is atomic or a single appended line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- creation and lookup ------------------------------------------------------------------
    @classmethod
    def create(cls, config: RunConfig) -> RunDir:
        """Make a fresh, uniquely named run directory under the config's workspace and save config.json."""
        runs = Path(config.workspace) / RUNS_SUBDIR
        runs.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        slug = _slug(config.name) if config.name else f"{config.task}-{config.model.kind}"
        base = f"{stamp}-{slug}"
        for n in range(1000):
            candidate = runs / (base if n == 0 else f"{base}-{n}")
            try:
                candidate.mkdir()
                break
            except FileExistsError:
                continue
        run = cls(candidate)
        config.save(run.config_path)
        run.write_status(state="queued", message="created", step=0, epoch=0, created=time.time())
        return run

    @classmethod
    def resolve(cls, workspace: str | Path, run: str | Path) -> RunDir:
        """Find a run by directory path or by id under ``workspace/runs``."""
        candidates = [Path(run), Path(workspace) / RUNS_SUBDIR / str(run)]
        for candidate in candidates:
            if (candidate / "config.json").is_file():
                return cls(candidate)
        raise DataError(
            f"no run named '{run}' was found",
            hint=f"list runs with 'python -m app runs --workspace {workspace}' and pass one of their ids.",
        )

    # -- paths --------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def tokenizer_dir(self) -> Path:
        return self.path / "tokenizer"

    @property
    def labels_path(self) -> Path:
        return self.path / "labels.json"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoint_dir / "last.keras"

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoint_dir / "best.keras"

    @property
    def checkpoint_state_path(self) -> Path:
        return self.checkpoint_dir / "state.json"

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    @property
    def trained_model(self) -> Path:
        """The model to use: the final one (best weights), or the last checkpoint of an unfinished run."""
        return self.model_path if self.model_path.exists() else self.last_checkpoint

    @property
    def eval_path(self) -> Path:
        return self.path / "eval.json"

    @property
    def data_report_path(self) -> Path:
        return self.path / "data_report.json"

    @property
    def lineage_path(self) -> Path:
        return self.path / "lineage.json"

    @property
    def exports_dir(self) -> Path:
        return self.path / "exports"

    @property
    def stop_flag(self) -> Path:
        return self.path / "STOP"

    @property
    def log_path(self) -> Path:
        return self.path / "train.log"

    @property
    def corpus_cache_dir(self) -> Path:
        """The workspace's token caches of streamed corpora, shared by its runs (``<workspace>/cache/corpora``)."""
        return self.path.parent.parent / "cache" / "corpora"

    # -- state --------------------------------------------------------------------------------
    def config(self) -> RunConfig:
        return RunConfig.load(self.config_path)

    def status(self) -> dict[str, Any]:
        return _read_json(self.status_path, default={"state": "unknown"})

    def write_status(self, **updates: Any) -> dict[str, Any]:
        status = self.status()
        status.update(updates)
        status["updated"] = time.time()
        atomic_write_json(self.status_path, status)
        return status

    def labels(self) -> list[str]:
        return list(_read_json(self.labels_path, default=[]))

    def lineage(self) -> dict[str, Any] | None:
        """Where a fine-tuned run's backbone came from (parent id, task, step, path); None for a fresh run."""
        return _read_json(self.lineage_path, default=None)

    def eval_report(self) -> dict[str, Any] | None:
        return _read_json(self.eval_path, default=None)

    def checkpoint_state(self) -> dict[str, Any] | None:
        return _read_json(self.checkpoint_state_path, default=None)

    def metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics_path)

    def log_metrics(self, record: dict[str, Any]) -> None:
        append_jsonl(self.metrics_path, record)

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete the temp files a killed training process left behind; call before resuming, never while a
        training process runs. Root-level atomic-write temps are only removed when older than a minute,
        because the UI process writes status.json there too."""
        engine_only = [self.path, self.checkpoint_dir, self.tokenizer_dir]
        found = [p for folder in engine_only for p in folder.glob(".tmp-*")]
        found += [p for folder in engine_only[1:] for p in folder.glob(".*.tmp")]
        cutoff = time.time() - 60
        found += [p for p in self.path.glob(".*.tmp") if _modified_before(p, cutoff)]
        for path in found:
            path.unlink(missing_ok=True)
        return found

    def request_stop(self) -> None:
        self.stop_flag.write_text("stop requested\n", encoding="utf-8")
        if self.status().get("state") in ("queued", "running"):
            self.write_status(
                state="stopping", message="stop requested; saving a checkpoint at the next step"
            )

    def stop_requested(self) -> bool:
        return self.stop_flag.exists()

    def clear_stop(self) -> None:
        self.stop_flag.unlink(missing_ok=True)

    def is_alive(self) -> bool:
        """True while the process recorded in status.json still runs (a run can die without saying so)."""
        pid = self.status().get("pid")
        if not pid:
            return False
        try:
            os.kill(int(pid), 0)
        except (OSError, ValueError):
            return False
        if not hasattr(os, "WNOHANG"):  # Windows has no zombies to reap
            return True
        try:  # a child of this process that has exited stays a zombie (and "alive" to kill) until reaped
            reaped, _ = os.waitpid(int(pid), os.WNOHANG)
        except ChildProcessError:  # not our child: kill's answer stands
            return True
        return reaped == 0

    def summary(self) -> RunSummary:
        status = self.status()
        try:
            config = self.config()
            task, kind, data = config.task, config.model.kind, Path(config.data.path).name
            backend, name = config.backend, config.name
        except (OSError, ValueError, TypeError):
            task = kind = data = backend = "?"
            name = ""
        state = status.get("state", "unknown")
        if state in ("running", "stopping") and not self.is_alive():
            state = "interrupted"
        report = self.eval_report() or {}
        best_name, best_value = _headline_metric(report, status)
        started = status.get("started") or status.get("created")
        ended = status.get("updated")
        duration = (ended - started) if (started and ended) else None
        lineage = self.lineage()
        return RunSummary(
            id=self.id,
            path=str(self.path),
            task=task,
            kind=kind,
            data=data,
            backend=backend,
            state=state,
            step=int(status.get("step") or 0),
            best_metric=best_name,
            best_value=best_value,
            duration_s=duration,
            message=str(status.get("message", "")),
            from_run=(lineage or {}).get("parent_id") or status.get("from_run"),
            lineage=lineage,
            name=name,
        )


@dataclass
class RunSummary:
    """One row of the runs table (CLI `runs`, UI Runs tab)."""

    id: str
    path: str
    task: str
    kind: str
    data: str
    backend: str
    state: str
    step: int
    best_metric: str
    best_value: float | None
    duration_s: float | None
    message: str
    from_run: str | None = None  # parent run id of a fine-tune (lineage.json, else status.json)
    lineage: dict[str, Any] | None = None  # lineage.json: parent id, task, step, path, head kept or new
    name: str = ""  # config.json's display name (rename changes it; the id stays)

    @property
    def lineage_text(self) -> str:
        """'from <parent> (<task> at step N)' for a fine-tuned run, '' otherwise."""
        if not self.from_run:
            return ""
        info = self.lineage or {}
        detail = ", ".join(
            part
            for part in (
                info.get("parent_task"),
                f"step {info['parent_step']}" if info.get("parent_step") else "",
            )
            if part
        )
        verb = "distilled from" if info.get("relation") == "teacher" else "from"
        return f"{verb} {self.from_run}" + (f" ({detail})" if detail else "")


def run_dirs(workspace: str | Path) -> list[RunDir]:
    """Every run directory under the workspace, newest first (nothing of them read yet)."""
    runs = Path(workspace) / RUNS_SUBDIR
    if not runs.is_dir():
        return []
    dirs = [p for p in runs.iterdir() if (p / "config.json").is_file()]
    return [RunDir(p) for p in sorted(dirs, key=lambda p: p.name, reverse=True)]


def list_runs(workspace: str | Path) -> list[RunSummary]:
    """All runs under the workspace, newest first."""
    return [run.summary() for run in run_dirs(workspace)]


def _headline_metric(report: dict[str, Any], status: dict[str, Any]) -> tuple[str, float | None]:
    """The run's main result: the first headline metric its task's evaluator reported, else its best val loss."""
    name = report.get("headline_metric")
    if name in report:
        return name, float(report[name])
    best = status.get("best") or {}
    if "val_loss" in best:
        return "val_loss", float(best["val_loss"])
    return "", None


def _modified_before(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except OSError:  # renamed into place meanwhile: not stale
        return False


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return default


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:60] or "run"
