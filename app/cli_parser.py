"""The command line's parser: every command, its flags and their help (app.cli runs them)."""

from __future__ import annotations

import argparse
import os

from data.config import TEXT_MODES, TOKENIZER_KINDS
from models import tasks
from models.architecture.presets import PRESET_NAMES
from models.config import BACKENDS, CLASS_WEIGHTS, DISTRIBUTIONS, MODEL_KINDS, PRECISIONS

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
        action=argparse.BooleanOptionalAction,
        default=None,
        help="reuse keys/values (Transformer) or state (LSTM) between tokens; the same text. Default: on for a "
        "Transformer (nothing to compile), off for an LSTM (its compiled step pays off only past ~1,000 tokens)",
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
            help="auto (the default without --config): a classifier's or tagger's tokenizer, model, seq_len and "
            "optimisation, a language model's learning rate, dropout and epochs, chosen from the data, each "
            "reason printed and saved in config.json; flags you give still win. none: the config's (or the "
            "built-in) settings as they are",
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
