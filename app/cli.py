"""Command line: the same engine functions the UI calls, for headless use (`python -m app --help`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from app.cli_parser import build_parser
from app.ui.views import baseline_text
from data.errors import DataError
from models import tasks
from models.config import OVERRIDES, RunConfig


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Merge a base config (file or defaults) with the flags given (RunConfig.apply_overrides, as the UI does)."""
    config = _base_config(args)
    config.workspace = args.workspace
    if args.command == "pretrain":
        config.task = args.objective
    elif getattr(args, "task", None):
        config.task = args.task
    config.task = config.task or tasks.default().name
    given = {key: getattr(args, key) for key in OVERRIDES if getattr(args, key, None) is not None}
    config.apply_overrides(given)
    if not config.data.path:
        raise DataError(
            "no dataset given", hint="pass --data FILE (CSV, TSV, JSONL, Parquet, Excel .xlsx or TXT)."
        )
    default_recipe = "none" if getattr(args, "config", None) or args.command == "prune" else "auto"
    # train asks with --recipe; a student gets the recipe's settings for the kind it is (its model is its own)
    recipe = getattr(args, "recipe", "auto" if args.command == "distill" else "none") or default_recipe
    if recipe == "auto":
        from models.engine.recipe import choose, require_recipe

        if getattr(args, "recipe", None) == "auto":  # asked for by name: say so when this task has none
            require_recipe(
                config,
                "the data-driven recipe",
                "drop --recipe auto, or train a classifier, a tagger or a causal language model.",
            )
        chosen_model = {"kind", "preset"} if args.command == "distill" else set()
        choose(config, keep=set(given) | chosen_model)
    return config


def _base_config(args: argparse.Namespace) -> RunConfig:
    """The config the flags apply to: --config's file; a distillation's student or a pruning's copy of the
    run named by --from (the engine derives them); else the defaults."""
    if getattr(args, "config", None):
        return RunConfig.load(args.config)
    if args.command == "distill":
        from models.engine.distillation import student_config

        return student_config(args.workspace, args.teacher)
    if args.command == "prune":
        from models.engine.pruning import pruning_config

        return pruning_config(args.workspace, args.from_run, args.sparsity)
    return RunConfig()


def cmd_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    for reason in config.recipe:
        print(f"recipe: {reason}")
    if args.dry_run:
        from models.engine.runtime import select_backend

        select_backend(config.backend)  # the plan builds the model symbolically, on the run's backend
        return _print_plan(config)
    from models.run_dir import RunDir

    run = RunDir.create(config)
    print(f"run: {run.path}")
    return _train(run, resume=False, quiet=args.quiet)


def cmd_search(args: argparse.Namespace) -> int:
    from models.engine.search import search

    config = config_from_args(args)
    config.task = tasks.default().name  # a search is over classifier settings
    given = {key for key in OVERRIDES if getattr(args, key, None) is not None}
    print(
        f"search: up to {args.trials} settings within {args.minutes:g} minutes, ranked by validation macro-F1"
    )

    def show(trial: Any) -> None:
        score = "no score" if trial.val_macro_f1 is None else f"val macro-F1 {trial.val_macro_f1:.3f}"
        print(f"trial {trial.number}: {trial.run_id} ({trial.state}, {trial.seconds:.0f} s) {score}")

    result = search(config, args.trials, args.minutes, keep=given, on_trial=show)
    best = result.best
    if best is None:
        print("no trial finished with a score", file=sys.stderr)
        return 1
    print(
        f"best: {best.run_id} (val macro-F1 {best.val_macro_f1:.3f}, test {best.test_macro_f1:.3f}); record: {result.path}"
    )
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    return _train(_resolve(args), resume=True, quiet=args.quiet)


def _train(run: Any, *, resume: bool, quiet: bool) -> int:
    from models.engine.train import run_training

    run_training(run, resume=resume, verbose=not quiet)
    return _report_end(run)


def cmd_stop(args: argparse.Namespace) -> int:
    run = _resolve(args)
    run.request_stop()
    print(f"stop requested for {run.id}; it saves a checkpoint and stops at its next step")
    return 0


def cmd_extend(args: argparse.Namespace) -> int:
    from models.engine.manage import extend_run

    run = extend_run(_resolve(args), args.epochs)
    print(f"{run.id}: training {args.epochs} more epoch(s), to {run.config().train.epochs} in all")
    return _train(run, resume=True, quiet=args.quiet)


def cmd_rename(args: argparse.Namespace) -> int:
    from models.engine.manage import rename_run

    run = rename_run(_resolve(args), args.name)
    print(f"{run.id} is now named '{run.config().name}'")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from models.engine.manage import delete_run, folder_size

    run = _resolve(args)
    size = folder_size(run.path) / 1e6
    if not args.yes:
        if not sys.stdin.isatty():
            raise DataError(f"run '{run.id}' was not deleted", hint="add --yes to delete without a question.")
        answer = input(f"delete {run.id} ({size:.1f} MB in {run.path})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kept")
            return 1
    children = delete_run(run)
    print(f"deleted {run.id} ({size:.1f} MB)")
    if children:
        print(f"fine-tuned from it (they keep their own weights): {', '.join(children)}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    run = _resolve(args, backend=True)
    from models.engine.evaluation import evaluate_saved_run

    report = evaluate_saved_run(run)
    print(
        json.dumps({k: v for k, v in report.items() if k not in ("confusion_matrix", "per_class")}, indent=2)
    )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from models.engine.inference import generate_stream

    loaded = _load(args)
    sys.stdout.write(args.prompt)
    for piece in generate_stream(
        loaded,
        args.prompt,
        max_new_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        # One generation per process: unasked (None), only a cached path with nothing to compile (BENCHMARKS.md
        # "Generation"); the Playground keeps its decoder across generations and always uses it.
        use_cache=args.kv_cache,
    ):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from models.engine.inference import classify

    for text, probs in zip(args.texts, classify(_load(args), args.texts), strict=True):
        top = ", ".join(f"{label}={p:.3f}" for label, p in list(probs.items())[:5])
        print(f"{text!r}: {top}")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    """One word<TAB>tag line per word (CoNLL style), then the entities found as spans; a blank line between texts."""
    from models.engine.inference import entity_segments, tag

    loaded = _load(args)
    for i, text in enumerate(args.texts):
        if i:
            print()
        tagged = tag(loaded, text)
        for word, label in tagged:
            print(f"{word}\t{label}")
        entities = [f"[{words}]({kind})" for words, kind in entity_segments(tagged) if kind]
        print(f"# entities: {', '.join(entities) if entities else 'none'}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from models.run_dir import list_runs

    rows = list_runs(args.workspace)
    if not rows:
        print(f"no runs in {Path(args.workspace) / 'runs'}")
        return 0
    print(f"{'id':40} {'task':16} {'model':12} {'state':12} {'step':>7}  best")
    for r in rows:
        best = f"{r.best_metric}={r.best_value:.4f}" if r.best_value is not None else ""
        lineage = f"  {r.lineage_text}" if r.from_run else ""
        print(f"{r.id:40} {r.task:16} {r.kind:12} {r.state:12} {r.step:>7}  {best}{lineage}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from data.loaders import load_dataset
    from data.stats import describe

    loaded = load_dataset(
        args.path,
        text_column=args.text_column,
        label_column=args.label_column,
        text_mode=args.text_mode,
        sheet=args.sheet,
        merge_label_case=bool(args.merge_label_case),
    )
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(describe(loaded), indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    run = _resolve(args)
    from models.engine.runtime import select_backend

    select_backend("tensorflow")  # TFLite and ONNX conversion need TensorFlow, whatever the run trained on
    from models.export import export_runs
    from models.export.metadata import MODEL_FILES
    from models.export.quantizations import quantizations

    reports = export_runs(
        run,
        quantizations(args.format) if args.quantization == "all" else (args.quantization,),
        fmt=args.format,
        allow_flex=args.allow_flex,
        max_examples=args.max_examples,
        unroll_lstm=args.unroll_lstm,
    )
    runtime = {"tflite": "LiteRT", "onnx": "onnxruntime"}[args.format]
    for report in reports:
        model_file = MODEL_FILES[report.format]
        print(f"{report.quantization}: {report.zip_path} ({model_file} {report.model_bytes / 1024:.1f} KiB)")
        latency = {k: v for k, v in report.verification.items() if k.endswith("_ms_per_call")}
        checks = {k: v for k, v in report.verification.items() if k != "source" and k not in latency}
        print(f"  {runtime} vs Keras: {json.dumps(checks)}")
        print(f"  {runtime} ms per call: {json.dumps(next(iter(latency.values()), {}))}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from app.ui.access import AccessRefused
    from app.ui.server import launch

    try:
        launch(workspace=args.workspace, host=args.host, port=args.port, share=args.share)
    except AccessRefused as err:
        # A refusal is a setting to fix, not a bug: one line, even with TEXTLAB_DEBUG.
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C at the password prompt: there is no run to resume
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def _print_plan(config: RunConfig) -> int:
    from models.engine.plan import size_estimate

    print(config.to_json())
    memory = size_estimate(config)
    print(f"parameters: {memory['params']:,} (vocabulary estimated before training)")
    print(f"memory estimate: {memory['human']}")
    return 0


def _report_end(run: Any) -> int:
    from models.run_dir import ENDED_WELL_STATES

    status = run.status()
    print(f"{run.id}: {status.get('state')} - {status.get('message', '')}")
    if status.get("headline"):
        print(json.dumps(status["headline"]))
    baseline = baseline_text(run.eval_report())
    if baseline:
        print(f"baseline: {baseline}")
    pruned = status.get("pruning")
    if pruned:
        print(
            f"pruning: {pruned['sparsity']:.1%} of the prunable weights are zero "
            f"({pruned['prunable_share']:.1%} of the model's parameters; target {pruned['target']:.0%})"
        )
    return 0 if status.get("state") in ENDED_WELL_STATES else 1


def _resolve(args: argparse.Namespace, *, backend: bool = False) -> Any:
    """The run named on the command line; with ``backend``, Keras set to the backend it trained on (unless
    KERAS_BACKEND says otherwise) for inference in this process."""
    from models.engine.runtime import select_backend
    from models.run_dir import RunDir

    run = RunDir.resolve(args.workspace, args.run)
    if backend and "KERAS_BACKEND" not in os.environ:
        select_backend(run.config().backend)
    return run


def _load(args: argparse.Namespace) -> Any:
    from models.engine.inference import load_run

    return load_run(_resolve(args, backend=True))


COMMANDS = {
    "ui": cmd_ui,
    "train": cmd_train,
    "pretrain": cmd_train,
    "finetune": cmd_train,
    "distill": cmd_train,
    "prune": cmd_train,
    "search": cmd_search,
    "resume": cmd_resume,
    "stop": cmd_stop,
    "extend": cmd_extend,
    "rename": cmd_rename,
    "delete": cmd_delete,
    "evaluate": cmd_evaluate,
    "generate": cmd_generate,
    "classify": cmd_classify,
    "tag": cmd_tag,
    "runs": cmd_runs,
    "data": cmd_data,
    "export": cmd_export,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["--workspace", args.workspace, "ui"])
    try:
        return COMMANDS[args.command](args)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError) as err:
        if os.environ.get("TEXTLAB_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with 'python -m app resume RUN'", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
