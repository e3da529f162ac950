"""A small search when asked: N classifier settings tried within M minutes, ranked by validation macro-F1.

Optuna's TPE sampler proposes the settings (model kind and size, learning rate, dropout) around the data's
recipe; every trial is an ordinary run (its own run directory, config.json, curves and eval.json), so the UI's
Runs tab and the CLI show them like any other. Trials are ranked by macro-F1 on the validation split (never
the test split, which stays the honest score of the winner); the best is reported as the search's run, and the
search's record (every trial, its settings and scores) is saved as ``<workspace>/searches/<time>-ranking.json``.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from data.errors import DataError
from data.fileio import atomic_write_json
from models import tasks
from models.config import RunConfig
from models.engine.recipe import choose, require_recipe

# What a trial may change, as RunConfig OVERRIDES keys; each trial's other settings come from the data's
# recipe for its kind (tokenizer, seq_len, epochs). The linear kind is the recipe's, fitted in seconds; the
# bag is the cheapest neural kind, so a short budget still tries it; the LSTM and Transformer when time allows.
KINDS = ("linear", "bag", "lstm", "transformer")
PRESETS = ("tiny", "small")
LEARNING_RATE = (3e-4, 1e-2)  # log-uniform
DROPOUTS = (0.1, 0.3, 0.5)
# Tried right after the recipe, before the sampler explores: the bag's measured setting and the runners-up of
# BENCHMARKS.md's bag ablations (dropout 0.5 led on sms_spam, TREC and film snippets; the tiny bag at lr 1e-2
# on sms_spam).
RUNNERS_UP = (
    {"kind": "bag", "preset": "small", "learning_rate": 3e-3, "dropout": 0.1},
    {"kind": "bag", "preset": "small", "learning_rate": 3e-3, "dropout": 0.5},
    {"kind": "bag", "preset": "tiny", "learning_rate": 1e-2, "dropout": 0.1},
)


@dataclass
class Trial:
    """One tried setting: its run, what it changed, and how it scored."""

    number: int
    run_id: str
    settings: dict[str, Any]
    val_macro_f1: float | None
    test_macro_f1: float | None
    val_rows: int
    state: str
    seconds: float


@dataclass
class SearchResult:
    """Every trial, best first, and the search's record on disk."""

    trials: list[Trial] = field(default_factory=list)
    path: str = ""

    @property
    def best(self) -> Trial | None:
        """The earliest trial within one standard error of the top validation score (Breiman's one-SE rule):
        on a few hundred validation rows a gap of one example decides nothing, and earlier trials are the
        measured recipe and its runners-up, the sampler's proposals come later."""
        scored = [t for t in self.trials if t.val_macro_f1 is not None]
        if not scored:
            return None
        top = max(scored, key=lambda t: t.val_macro_f1)
        se = math.sqrt(top.val_macro_f1 * (1 - top.val_macro_f1) / max(1, top.val_rows))
        return min((t for t in scored if t.val_macro_f1 >= top.val_macro_f1 - se), key=lambda t: t.number)


def search(
    base: RunConfig,
    trials: int,
    minutes: float,
    *,
    keep: set[str] | frozenset[str] = frozenset(),
    on_trial: Callable[[Trial], None] | None = None,
    stamp: str | None = None,
) -> SearchResult:
    """Train up to ``trials`` settings within ``minutes`` (the last trial is cut short at the deadline) and
    rank them by validation macro-F1; settings named in ``keep`` (the user's own) are never varied."""
    import optuna

    from models.engine.train import train

    require_recipe(
        base, "the search", "search a classifier's settings, or train this task directly.", (tasks.CLASSIFY,)
    )
    if trials < 1 or minutes <= 0:
        raise DataError("a search needs at least 1 trial and a time budget above 0 minutes.")
    raw = copy.deepcopy(base)  # each trial takes the data's recipe for its own kind
    base = choose(copy.deepcopy(base), keep=keep)  # the first trial is the data's recipe
    deadline = time.monotonic() + minutes * 60
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")  # names the trials and the ranking file
    result = SearchResult(path=str(Path(base.workspace) / "searches" / f"{stamp}-ranking.json"))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=base.train.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    first = {"kind": base.model.kind, "preset": base.model.preset, "dropout": base.model.dropout}
    study.enqueue_trial({**first, "learning_rate": base.train.learning_rate})  # the recipe itself goes first
    for settings in RUNNERS_UP:
        if all(settings[k] == getattr(base.model, k, None) for k in keep & {"kind", "preset", "dropout"}):
            study.enqueue_trial(settings)

    def objective(trial: optuna.Trial) -> float:
        settings = {
            "kind": trial.suggest_categorical("kind", KINDS),
            "preset": trial.suggest_categorical("preset", PRESETS),
            "learning_rate": trial.suggest_float("learning_rate", *LEARNING_RATE, log=True),
            "dropout": trial.suggest_categorical("dropout", DROPOUTS),
        }
        settings = {k: v for k, v in settings.items() if k not in keep}
        config = choose(copy.deepcopy(raw).apply_overrides(settings), keep=keep | set(settings))
        config.name = f"{base.name or 'search'} {stamp} #{trial.number + 1}"
        config.train.time_budget_s = max(1.0, deadline - time.monotonic())
        config.recipe = [*config.recipe, f"search {stamp}, trial {trial.number + 1}: {_describe(settings)}"]
        started = time.monotonic()
        run = train(config)
        report = run.eval_report() or {}
        record = Trial(
            number=trial.number + 1,
            run_id=run.id,
            settings=settings,
            val_macro_f1=report.get("val_macro_f1"),
            test_macro_f1=report.get("macro_f1"),
            val_rows=int(report.get("val_rows", 0)),
            state=run.status().get("state", "unknown"),
            seconds=round(time.monotonic() - started, 1),
        )
        result.trials.append(record)
        _save(result, base, trials, minutes)
        if on_trial:
            on_trial(record)
        if record.val_macro_f1 is None:
            raise optuna.TrialPruned()  # failed or unscored: never the best
        return float(record.val_macro_f1)

    def out_of_time(study: optuna.Study, trial: Any) -> None:
        if time.monotonic() >= deadline:
            study.stop()

    study.optimize(objective, n_trials=trials, timeout=minutes * 60, callbacks=[out_of_time])
    result.trials.sort(key=lambda t: -1.0 if t.val_macro_f1 is None else t.val_macro_f1, reverse=True)
    _save(result, base, trials, minutes)
    return result


def _describe(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.2g}" if isinstance(v, float) else f"{k} {v}" for k, v in settings.items())


def _save(result: SearchResult, base: RunConfig, trials: int, minutes: float) -> None:
    best = result.best
    Path(result.path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        Path(result.path),
        {
            "data": base.data.path,
            "asked": {"trials": trials, "minutes": minutes},
            "ranked_by": "val_macro_f1",
            "best_rule": "the earliest trial within one standard error of the top val_macro_f1",
            "best_run": best.run_id if best else None,
            "trials": [asdict(t) for t in result.trials],
        },
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m models.engine.search CONFIG --trials N --minutes M [--keep a,b]`: the UI's child process."""
    import argparse

    from models.engine.runtime import prefer_onednn

    prefer_onednn()
    parser = argparse.ArgumentParser(prog="python -m models.engine.search", description=__doc__)
    parser.add_argument("config", help="the base config.json (the Train form's settings)")
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--keep", default="", help="comma-separated settings the user chose (never varied)")
    args = parser.parse_args(argv)
    keep = {k for k in args.keep.split(",") if k}
    try:
        stamp = Path(args.config).name.removesuffix("-config.json")  # the launcher's name for this search
        config = RunConfig.load(args.config)
        best = search(config, args.trials, args.minutes, keep=keep, stamp=stamp).best
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0 if best else 1


if __name__ == "__main__":
    sys.exit(main())
