"""Command line: the same engine functions the UI calls, for headless use (`python -m app --help`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from app.ui.views import baseline_text
from data.config import TEXT_MODES, TOKENIZER_KINDS
from data.errors import DataError
from models import tasks
from models.architecture.presets import PRESET_NAMES
from models.config import (
    BACKENDS,
    CLASS_WEIGHTS,
    DISTRIBUTIONS,
    MODEL_KINDS,
    OVERRIDES,
    PRECISIONS,
    RunConfig,
)

DEFAULT_WORKSPACE = os.environ.get("TEXTLAB_WORKSPACE", "workspace")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textlab", description="Build small language models with Keras 3, fine-tune them, ship TFLite."
    )
    parser.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="where runs and exports go")
    sub = parser.add_subparsers(dest="command")

    ui = sub.add_parser("ui", help="launch the local web app (the default command)")
    ui.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address (default: 127.0.0.1, this machine only); any other address, e.g. 0.0.0.0 for the "
        "network, needs a password: TEXTLAB_PASSWORD (user TEXTLAB_USER, default 'textlab') or a prompt",
    )
    ui.add_argument("--port", type=int, default=7860)
    ui.add_argument(
        "--share",
        action="store_true",
        help="open a public share link (off unless asked; needs a password too)",
    )

    for name, helptext in (
        ("train", "train a model from a dataset"),
        ("pretrain", "pretrain a language model on raw text (causal or masked LM)"),
        ("finetune", "fine-tune a classifier or tagger from a pretrained run's backbone"),
        ("search", "try N classifier settings within M minutes, ranked by validation macro-F1"),
        ("distill", "train a smaller student classifier on a finished classifier run's soft labels"),
        ("prune", "magnitude-prune a finished run's weights to a target sparsity, with a short fine-tune"),
    ):
        _add_train_options(sub.add_parser(name, help=helptext), name)

    resume = sub.add_parser("resume", help="continue a stopped or interrupted run from its last checkpoint")
    resume.add_argument("run")
    resume.add_argument("--quiet", action="store_true")

    stop = sub.add_parser("stop", help="ask a running run to stop at its next step (it saves a checkpoint)")
    stop.add_argument("run")

    more = sub.add_parser("extend", help="train a completed run N more epochs, from its last checkpoint")
    more.add_argument("run")
    more.add_argument("--epochs", type=int, default=1, help="epochs to add (default 1)")
    more.add_argument("--quiet", action="store_true")

    rename = sub.add_parser("rename", help="set a run's display name (its id stays)")
    rename.add_argument("run")
    rename.add_argument("name")

    delete = sub.add_parser("delete", help="delete a run's folder (a running run is stopped first)")
    delete.add_argument("run")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    evaluate = sub.add_parser("evaluate", help="evaluate a run on its held-out split")
    evaluate.add_argument("run")

    generate = sub.add_parser("generate", help="generate text from a language-model run")
    generate.add_argument("run")
    generate.add_argument("--prompt", default="")
    generate.add_argument("--max-tokens", type=int, default=200)
    generate.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    generate.add_argument("--top-k", type=int, default=0)
    generate.add_argument("--top-p", type=float, default=1.0)
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument(
        "--kv-cache",
        action="store_true",
        help="reuse keys/values between tokens (same text; its 2-3 s of compiling pays off only past ~1,000 tokens)",
    )

    classify = sub.add_parser("classify", help="label probabilities for one or more texts")
    classify.add_argument("run")
    classify.add_argument("texts", nargs="+")

    tag = sub.add_parser("tag", help="tag each word of one or more texts with a token-classifier run")
    tag.add_argument("run")
    tag.add_argument("texts", nargs="+", help="texts; words are split on whitespace")

    sub.add_parser("runs", help="list runs in the workspace")

    check = sub.add_parser("data", help="load and validate a dataset and print its stats")
    check.add_argument("path")
    check.add_argument("--text-column")
    check.add_argument("--label-column")
    check.add_argument("--text-mode", choices=TEXT_MODES, default="corpus")
    _add_table_flags(check)

    export = sub.add_parser(
        "export",
        help="export a run to a TFLite (or ONNX) bundle (+ zip) verified with LiteRT (or onnxruntime)",
    )
    export.add_argument("run")
    export.add_argument(
        "--format", choices=["tflite", "onnx"], default="tflite", help="onnx: float32, run with onnxruntime"
    )
    export.add_argument("--quantization", choices=["float32", "float16", "int8", "all"], default="float32")
    export.add_argument(
        "--allow-flex", action="store_true", help="allow TensorFlow (Flex) ops if needed (TFLite)"
    )
    export.add_argument("--unroll-lstm", action="store_true", help="unroll LSTMs (for GPU/NNAPI delegates)")
    export.add_argument("--max-examples", type=int, default=200, help="held-out examples to verify on")
    return parser


def _add_train_options(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("--config", help="start from this config.json (flags below override it)")
    p.add_argument("--data", help="dataset file (CSV, TSV, JSONL, Parquet, TXT)")
    if command == "train":
        p.add_argument("--task", choices=tasks.names(), help=_task_help(tasks.specs()))
        p.add_argument(
            "--recipe",
            choices=["auto", "none"],
            help="auto (the default without --config): a classifier's tokenizer, model, seq_len and "
            "optimisation chosen from the data, each reason printed and saved in config.json; flags you give "
            "still win. none: the config's (or the built-in) settings as they are",
        )
    if command == "search":
        p.add_argument("--trials", type=int, default=6, help="settings to try (default 6)")
        p.add_argument("--minutes", type=float, default=5.0, help="time budget for all trials (default 5)")
    if command == "pretrain":
        objectives = tasks.specs(lambda s: s.pretrains)
        p.add_argument(
            "--objective",
            choices=[s.name for s in objectives],
            default=objectives[0].name,
            help=_task_help(objectives),
        )
    if command == "finetune":
        targets = tasks.specs(lambda s: s.fine_tunable)
        p.add_argument("--from", dest="from_run", required=True, help="pretrained run id or path")
        p.add_argument("--task", choices=[s.name for s in targets], default=targets[0].name)
        p.add_argument("--freeze-backbone-epochs", type=int)
        p.add_argument("--backbone-lr-multiplier", type=float)
    if command == "distill":
        p.add_argument("--from", dest="teacher", required=True, help="teacher: a completed classifier run")
        p.add_argument(
            "--unlabelled",
            help="extra texts (a file with a text column; labels ignored) the teacher labels for the student",
        )
        p.add_argument(
            "--augment",
            type=int,
            help="perturbed copies of each training text (words left out, short spans) the teacher labels too "
            "(default: up to 4, enough for about 60,000 rows; none for a linear student)",
        )
        p.add_argument(
            "--distill-temperature",
            type=float,
            help="softens both distributions (default 1; a linear student's targets only)",
        )
        p.add_argument(
            "--distill-alpha",
            type=float,
            help="weight of the teacher's soft labels in the loss (default 0.5); 1 - alpha weighs the labels",
        )
    if command == "prune":
        p.add_argument("--from", dest="from_run", required=True, help="the run to prune (completed)")
        p.add_argument(
            "--sparsity", type=float, required=True, help="share of each pruned weight matrix set to zero"
        )
    p.add_argument("--name")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--text-mode", choices=TEXT_MODES)
    _add_table_flags(p)
    p.add_argument("--model", dest="kind", choices=MODEL_KINDS)
    p.add_argument("--size", dest="preset", choices=PRESET_NAMES)
    p.add_argument("--seq-len", type=int)
    p.add_argument("--tokenizer", choices=TOKENIZER_KINDS)
    p.add_argument("--vocab-size", type=int)
    p.add_argument(
        "--max-ngrams",
        type=int,
        help="n-gram tokenizer: keep this many n-grams, those in the most training texts (default: all); "
        "a distilled linear student keeps this many of its teacher's, those it weighs most",
    )
    p.add_argument("--backend", choices=BACKENDS)
    p.add_argument("--precision", choices=PRECISIONS)
    p.add_argument("--distribution", choices=DISTRIBUTIONS)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", "--lr", type=float)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument(
        "--validation-tokens",
        type=int,
        help="language models: tokens each validation during training reads, spread over the validation "
        "split (default 32768; 0: all of it); the final evaluation reads the whole held-out split",
    )
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--class-weight",
        choices=CLASS_WEIGHTS,
        help="classifiers: balanced weighs each class by n / (classes * count) in the loss (default none)",
    )
    p.add_argument("--val-fraction", type=float, help="share of rows for validation (default 0.1)")
    p.add_argument("--test-fraction", type=float, help="share of rows for the test split (default 0.1)")
    p.add_argument("--split-seed", type=int, help="seed of the train/val/test split (default 1337)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true", help="print the config and model size, do not train")


def _add_table_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sheet", help="Excel workbooks: the sheet to read, by name or number (default: the first)"
    )
    p.add_argument(
        "--merge-label-case",
        action="store_true",
        default=None,
        help="labels that differ only by case ('Spam', 'spam') become one class",
    )


def _task_help(specs: tuple[tasks.TaskSpec, ...]) -> str:
    return "; ".join(f"{s.name}: {s.summary}" for s in specs)


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
                config, "the data-driven recipe", "drop --recipe auto, or train a classifier or a tagger."
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
        # One generation per process: compiling the cached path (2.5 s, BENCHMARKS.md "Generation") costs more
        # than it saves at the default 200 tokens, so the CLI asks for it; the Playground keeps its compiled
        # step across generations and always uses it.
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
