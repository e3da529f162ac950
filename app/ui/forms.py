"""Train-form values -> RunConfig through RunConfig.apply_overrides, the same path the CLI takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.ui.views import format_duration
from data.errors import DataError
from models import tasks
from models.config import RunConfig

# A student classifier trained on a finished classifier run's soft labels (models.engine.distillation).
DISTILL_LABEL = "Distil a smaller classifier from a run"


def task_choices() -> dict[str, tuple[str, bool]]:
    """Train-tab label -> (task name, fine-tune from a pretrained run?), from the task registry."""
    choices = {spec.label: (spec.name, False) for spec in tasks.specs()}
    for spec in tasks.specs(lambda s: s.fine_tunable):
        choices[spec.finetune_label] = (spec.name, True)
    choices[DISTILL_LABEL] = (tasks.default().name, False)
    return choices


TASK_CHOICES = task_choices()
FINETUNE_LABEL = tasks.default().finetune_label  # the default task, started from a pretrained run


def is_finetune(task_label: str) -> bool:
    return TASK_CHOICES.get(task_label, ("", False))[1]


def is_distill(task_label: str) -> bool:
    return task_label == DISTILL_LABEL


def teacher_tasks() -> tuple[str, ...]:
    """Tasks whose runs can teach a student (the Train tab's 'Teacher run' list): whole-text classifiers."""
    return tasks.names(lambda s: s.interface == tasks.CLASSIFY)


def task_for(task_label: str) -> str:
    return TASK_CHOICES.get(task_label, (tasks.default().name, False))[0]


def default_task_label(has_labels: bool) -> str:
    """The default task for labelled data; the first language-model task for plain text."""
    spec = tasks.default() if has_labels else tasks.specs(lambda s: s.pretrains)[0]
    return spec.label


def parent_tasks() -> tuple[str, ...]:
    """Tasks whose runs can be fine-tuned from (the Train tab's 'Pretrained run' list)."""
    return tasks.names(lambda s: s.pretrains)


@dataclass
class TrainForm:
    """Everything the Train tab collects; field names are RunConfig OVERRIDES keys (the CLI's flag names)."""

    task_label: str
    kind: str = "transformer"
    preset: str = "tiny"
    backend: str = "tensorflow"
    precision: str = "auto"
    tokenizer: str = "char"
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-3
    seq_len: int = 128
    max_steps: int | None = None
    log_every: int = 10
    from_run: str | None = None
    name: str = ""
    recipe: bool = True  # "Choose settings from the data": the engine's recipe, as the CLI's default
    own: list[str] = field(default_factory=list)  # recipe settings the user edited: theirs win
    val_fraction: float = 0.1  # Advanced: the split (shares of the rows) and one seed for split and training
    test_fraction: float = 0.1
    seed: int = 1337
    class_weight: str = "none"  # Advanced: "balanced" weighs a rare class as much as a common one
    base_run: str = ""  # "Train again with these settings": the run whose config.json the form starts from


def run_config(workspace: str, dataset: dict[str, Any] | None, form: TrainForm) -> RunConfig:
    """The run's config from the form and the Data tab's dataset, as `python -m app train ...` builds it."""
    from models.engine.recipe import choose, has_recipe

    task, finetune = TASK_CHOICES.get(form.task_label, (tasks.default().name, False))
    dataset = dataset or {}
    if not dataset.get("path"):
        raise DataError("no dataset is loaded", hint="pick or upload one on the Data tab first.")
    if form.base_run:
        config = _again(workspace, dataset, form, task, finetune)
    else:
        config = RunConfig(task=task, workspace=workspace)
        config.apply_overrides(_form_values(config, dataset, form, task, finetune))  # the form as it shows
    if form.recipe and has_recipe(config):
        # The recipe's choices replace what the form shows, except the fields the user edited (the CLI's
        # flags given); with nothing to choose from (no readable data yet) the form's values stand. A
        # student's model is the one picked for it, as `distill --model` keeps it.
        student = {"kind", "preset"} if is_distill(form.task_label) else set()
        choose(config, keep=own_settings(form) | student)
    return config


def _again(workspace: str, dataset: dict[str, Any], form: TrainForm, task: str, finetune: bool) -> RunConfig:
    """The base run's whole config (settings the form has no field for included) with the fields the user
    changed since the form showed it: only those, so an untouched form trains the same settings again."""
    from models.run_dir import RunDir

    base = RunDir(form.base_run).config()
    shown = TrainForm(**{**form_of(base), "base_run": form.base_run})
    before = _form_values(base, dataset_of(base), shown, base.task, bool(base.finetune.from_run))
    now = _form_values(base, dataset, form, task, finetune)
    base.task, base.workspace, base.name, base.recipe = task, workspace, "", []
    if not finetune:
        base.finetune.from_run = None
    base.apply_overrides({key: value for key, value in now.items() if value != before.get(key)})
    return base


def form_of(config: RunConfig) -> dict[str, Any]:
    """A run's settings as Train-form field values (TrainForm's fields, 'train again with these settings')."""
    from models.architecture.presets import PRESET_NAMES

    spec = tasks.get(config.task)
    finetune = bool(config.finetune.from_run) and spec.fine_tunable
    label = DISTILL_LABEL if config.distill.teacher else spec.finetune_label if finetune else spec.label
    return {
        "task_label": label,
        "kind": config.model.kind,
        "preset": config.model.preset or PRESET_NAMES[0],  # explicit sizes stay the base run's (see _again)
        "backend": config.backend,
        "precision": config.precision,
        "tokenizer": config.tokenizer.kind,
        "epochs": config.train.epochs,
        "batch_size": config.train.batch_size,
        "learning_rate": config.train.learning_rate,
        "seq_len": config.model.seq_len,
        "max_steps": config.train.max_steps or 0,
        "log_every": config.train.log_every,
        "from_run": config.distill.teacher or (config.finetune.from_run if finetune else None),
        "name": "",
        "recipe": False,  # the run's settings as they were, not chosen again
        "own": [],
        "val_fraction": config.data.val_fraction,
        "test_fraction": config.data.test_fraction,
        "seed": config.train.seed,
        "class_weight": config.train.class_weight,
    }


def dataset_of(config: RunConfig) -> dict[str, Any]:
    """The Data-tab dataset fields a run's config names (what the form reads of the Data tab)."""
    data = config.data
    return {
        "path": data.path,
        "text_column": data.text_column,
        "label_column": data.label_column,
        "text_mode": data.text_mode,
        "sheet": data.sheet,
        "merge_label_case": data.merge_label_case,
    }


def differs_from_shown(
    config: RunConfig, run_id: str, dataset: dict[str, Any] | None, task_label: str
) -> str:
    """A note when Start would train other data or another task than the run shown below; "" when not."""
    task, finetune = TASK_CHOICES.get(task_label, (tasks.default().name, False))
    path = (dataset or {}).get("path")
    same_data = bool(path) and _same_file(path, config.data.path)
    if same_data and task == config.task and finetune == bool(config.finetune.from_run):
        return ""
    theirs = form_of(config)["task_label"]
    start = f"a {task_label} on `{(dataset or {}).get('name') or Path(path).name}`" if path else "nothing yet"
    return (
        f"**Start trains {start}**, not what the run shown below used (`{run_id}`: {theirs} on "
        f"`{Path(config.data.path).name}`). **Train again with these settings** loads that run's data and "
        "settings into the form."
    )


def _same_file(a: str, b: str) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def own_settings(form: TrainForm) -> set[str]:
    """The recipe settings the user edited in the form: the CLI's flags given, kept by recipe and search."""
    from models.engine.recipe import RECIPE_KEYS

    return set(form.own) & set(RECIPE_KEYS)


def recipe_fields(config: RunConfig) -> dict[str, Any]:
    """The Train-tab field values of a config (what the recipe chose, shown in the form)."""
    return {
        "kind": config.model.kind,
        "preset": config.model.preset,
        "tokenizer": config.tokenizer.kind,
        "epochs": config.train.epochs,
        "batch_size": config.train.batch_size,
        "learning_rate": config.train.learning_rate,
        "seq_len": config.model.seq_len,
    }


def _form_values(
    config: RunConfig, dataset: dict[str, Any], form: TrainForm, task: str, finetune: bool
) -> dict[str, Any]:
    """The form as OVERRIDES values (None: not set)."""
    return {
        "data": dataset.get("path"),
        "text_column": dataset.get("text_column") or None,
        "label_column": (dataset.get("label_column") or None) if tasks.get(task).labelled else None,
        "text_mode": dataset.get("text_mode") or None,
        "sheet": dataset.get("sheet") or None,
        "merge_label_case": bool(dataset.get("merge_label_case")) or None,
        "name": (form.name or "").strip() or None,
        "kind": form.kind,
        "preset": form.preset,
        "seq_len": _int(form.seq_len),
        "tokenizer": form.tokenizer,
        "backend": form.backend,
        "precision": form.precision,
        "epochs": _int(form.epochs),
        "batch_size": _int(form.batch_size),
        "learning_rate": float(form.learning_rate) if form.learning_rate else None,
        "max_steps": _int(form.max_steps) or None,
        "log_every": max(1, _int(form.log_every) or config.train.log_every),
        "from_run": form.from_run if finetune else None,
        "teacher": form.from_run if is_distill(form.task_label) else None,
        "val_fraction": _share(form.val_fraction, "validation"),
        "test_fraction": _share(form.test_fraction, "test"),
        "seed": _int(form.seed),
        "split_seed": _int(form.seed),
        "class_weight": form.class_weight or None,
    }


def _share(value: Any, what: str) -> float | None:
    """A split share from the form, refused outside [0, 0.5] with a message naming the field."""
    if value is None or value == "":
        return None
    share = float(value)
    if not 0.0 <= share <= 0.5:
        raise DataError(
            f"the {what} share {share:g} is outside 0-0.5.", hint="use e.g. 0.1 for a tenth of the rows."
        )
    return share


def size_estimate(config: RunConfig, num_classes: int | None = None, rows: int | None = None) -> str:
    """Parameter count and training-memory estimate (models.engine.plan, as `train --dry-run` prints it),
    the steps the run will take and its time where a run of the same model was measured."""
    from models.engine.plan import size_estimate as estimate

    memory = estimate(config, num_classes)
    text = f"**Model size:** {memory['human']} (vocabulary estimated before training)"
    text += run_length(config, rows)
    if config.recipe:
        text += "\n\n**Chosen from the data** (edit a field to use your own):\n" + "".join(
            f"\n- {reason}" for reason in config.recipe
        )
    return text


def run_length(config: RunConfig, rows: int | None) -> str:
    """Markdown lines: the planned steps (with a warning when max steps cuts the epochs short) and the
    whole run's time from the step rate an earlier run of the same model measured."""
    from models.engine.plan import measured_rate, planned_steps

    plan = planned_steps(config, rows)
    if not plan:
        return ""
    every = plan.per_epoch * plan.epochs
    text = f"\n\n**Steps:** {plan.per_epoch} per epoch × {plan.epochs} epochs = {every}"
    if plan.capped_at_epoch is not None:
        text += (
            f"\n\n⚠️ **Max steps {plan.total} stops training in epoch {plan.capped_at_epoch:g} of "
            f"{plan.epochs}**: set Max steps to 0 (no cap) or {every}, or train fewer epochs."
        )
    rate = measured_rate(config)
    if not rate:
        return text + (
            "\n\n**Time:** shown once the first steps are timed (no finished run of this model, batch and "
            "backend yet)"
        )
    seconds = plan.total / rate.steps_per_s + rate.overhead_s
    return text + (
        f"\n\n**Time:** about {format_duration(seconds)} in all ({rate.steps_per_s:g} steps/s, plus "
        f"{format_duration(rate.overhead_s)} of setup and evaluation, as measured in `{rate.run_id}`: the "
        "same model, batch and backend)"
    )


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)
