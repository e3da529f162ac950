"""Knowledge distillation: a student classifier trained on a finished classifier run's soft labels.

The student reads its own tokenizer and model kind; the teacher (any completed classifier run, loaded in safe
mode) labels the student's training texts, and any extra unlabelled texts, with its probabilities. The student's
targets are ``[teacher probabilities at T | one-hot label | has-label flag]`` rows, read by
``models.engine.distill_loss`` (Hinton et al., 2015: T^2 * KL at temperature T, plus the labels' cross-entropy).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from data.augment import perturbed_copies
from data.config import DataConfig, TokenizerConfig
from data.errors import DataError
from data.fileio import atomic_write_json
from models import tasks
from models.config import FITTED_KINDS, ModelConfig, RunConfig
from models.run_dir import RunDir
from models.tasks.label_metrics import classification_metrics

# The default student of a teacher that is not linear: the hashed n-gram bag reads word and character n-grams
# in a table whose size its preset sets, so a tenth of the teacher fits it whatever the vocabulary (BENCHMARKS.md
# "Distillation ..." at commit b7bdde7, from linear teachers: fortunes 0.486 vs the bag-tiny student's 0.461 at
# a similar size; sms_spam 0.977 at 132 KiB vs 0.972 at 3.4 MiB; level with or below the same model trained
# directly).
STUDENT_MODEL = {"kind": "hashed", "preset": "auto"}
# A linear teacher's default student is linear too, over the tenth of its n-grams with the largest class
# weights (structured pruning of its vocabulary, then a fit to its soft labels): fortunes, three splits, 0.528
# (99.4% of the teacher's 0.532) where the same model over the most frequent n-grams, fitted directly, scores
# 0.498; sms_spam 100% (BENCHMARKS.md "Distillation ...").
PRUNED_VOCAB_KINDS = ("linear",)  # teacher kind -> the same kind's student keeps the teacher's best n-grams
# A linear student's parameters per n-gram: its row of class weights and its idf, tf and block entries.
LINEAR_TABLES = 3
# What a float32 TFLite file holds beside the weights (graph, names, metadata; measured 9.3-9.8 KiB for the
# linear kind): counted so that the student's file, not only its parameter count, is a tenth of the teacher's.
TFLITE_OVERHEAD_BYTES = 10_240
MIN_STUDENT_NGRAMS = 256  # a floor for small teachers, whose tenth would hold next to nothing
SCORE_SELECTED_KINDS = ("hashed",)  # classifiers whose best epoch is their validation macro-F1's
# The largest preset within STUDENT_SHARE of the teacher's parameters, else the smallest.
AUTO_PRESET = "auto"
AUTO_KIND = "auto"  # the default student's kind for this teacher (student_config)
STUDENT_SHARE = 0.1  # a tenth: the compression issue 19 asks of a student
# Perturbed copies per training text when the user names none: enough for a transfer set of about this many
# rows, at most MAX_COPIES (fortunes, a bag-tiny student: validation macro-F1 0.44 -> 0.486 with 4 copies,
# 0.493 with 8 at twice the time; BENCHMARKS.md "Distillation ...").
TRANSFER_ROWS = 60_000
MAX_COPIES = 4
TEACHER_BATCH = 256  # texts per teacher call
# A vocabulary for counting a candidate student's parameters before its tokenizer exists: the hashed kind's
# size does not depend on it; for other kinds it makes the count a lower bound (a student's own vocabulary).
VOCAB_FOR_SIZING = 8000


def teacher_run(workspace: str, ref: str) -> RunDir:
    """The teacher named by ``ref``: a classifier run with a trained model, else a DataError saying why."""
    run = RunDir.resolve(workspace, ref)
    task = run.config().task
    if tasks.get(task).interface != tasks.CLASSIFY:
        able = ", ".join(s.name for s in tasks.specs(lambda s: s.interface == tasks.CLASSIFY))
        raise DataError(
            f"run '{run.id}' is a {task} run; a teacher must label whole texts ({able}).",
            hint="pick a completed classifier run as the teacher.",
        )
    if not run.trained_model.exists():
        raise DataError(
            f"run '{run.id}' has no trained model to teach with",
            hint="finish (or resume) the teacher's training first, or pick a completed run.",
        )
    return run


def student_config(workspace: str, ref: str) -> RunConfig:
    """A student's config: the teacher's data and split (so both are scored on the same test rows), and the
    default student's model: a linear teacher's kind and n-gram settings (student_tokenizer cuts its
    vocabulary), else the hashed bag sized to a tenth of the teacher; the CLI's flags and the recipe fill in
    the rest."""
    teacher = teacher_run(workspace, ref)
    taught = teacher.config()
    config = RunConfig(task=taught.task, workspace=workspace, backend=taught.backend)
    config.data = DataConfig(**{**taught.data.__dict__})
    pruned = taught.model.kind in PRUNED_VOCAB_KINDS
    config.model.kind = taught.model.kind if pruned else STUDENT_MODEL["kind"]
    config.model.preset = taught.model.preset if pruned else sized_preset(teacher, config.model.kind)
    if pruned:  # the teacher's n-grams, cut to its heaviest (student_tokenizer)
        config.tokenizer = TokenizerConfig(**{**taught.tokenizer.__dict__, "max_ngrams": None})
    config.distill.teacher = teacher.id
    config.name = f"{taught.name or f'{taught.task}-{taught.model.kind}'} student"  # RunDir.create's naming
    return config


def student_for(workspace: str, ref: str, kind: str, preset: str) -> RunConfig:
    """A student of ``ref`` of the given model, its other settings chosen from the data as
    `distill --from REF --model KIND --size PRESET` chooses them (the Export tab's 'Distil this run')."""
    from models.engine.recipe import choose

    config = student_config(workspace, ref)
    if kind != AUTO_KIND and kind != config.model.kind:
        config.model.kind = kind
        config.tokenizer = TokenizerConfig()  # the recipe's for this kind, not the teacher's
        config.model.preset = sized_preset(teacher_run(workspace, ref), kind)
    if preset != AUTO_PRESET:
        config.model.preset = preset
    _check_student(config)
    return choose(config, keep={"kind", "preset"})


def sized_preset(teacher: RunDir, kind: str) -> str:
    """The largest preset of ``kind`` with at most STUDENT_SHARE of the teacher's parameters (its eval.json
    count), else the smallest; the smallest when the teacher's count is unknown."""
    from models.architecture.presets import PRESET_NAMES

    report = teacher.eval_report() or {}
    labels = teacher.labels()
    if not report.get("params") or len(labels) < 2:
        return PRESET_NAMES[0]
    budget = STUDENT_SHARE * float(report["params"])
    fitting = [
        p for p in PRESET_NAMES if _preset_params(kind, p, len(labels), teacher.config().task) <= budget
    ]
    return fitting[-1] if fitting else PRESET_NAMES[0]


def _preset_params(kind: str, preset: str, num_classes: int, task: str) -> int:
    """A preset's parameter count; the hashed kind's by formula, so the CLI's default student imports no Keras
    before the run's backend is chosen (other kinds are sized by a symbolic build: the Export tab's choice)."""
    from models.architecture.presets import hashed_parameter_count

    if kind == "hashed":
        return hashed_parameter_count(preset, num_classes)
    from models.architecture.sizing import count_params

    cfg = ModelConfig(kind=kind, preset=preset, vocab_size=VOCAB_FOR_SIZING, num_classes=num_classes)
    return count_params(cfg, task)


def student_tokenizer(config: RunConfig) -> Any | None:
    """A linear student's tokenizer when its teacher is linear too: the teacher's n-grams cut to the
    ``tokenizer.max_ngrams`` whose class-weight rows are longest (by default as many as keep the student's
    float32 file within a tenth of the teacher's; the config records the number). None otherwise: the
    student trains its own."""
    d = config.distill
    if not d.teacher or config.model.kind not in PRUNED_VOCAB_KINDS or config.tokenizer.kind != "ngrams":
        return None
    teacher = teacher_run(config.workspace, d.teacher)
    taught = teacher.config()
    if taught.model.kind != config.model.kind or taught.tokenizer.kind != "ngrams":
        return None  # only a linear teacher's n-grams have class weights to rank
    import keras

    from data.tokenizers import load_tokenizer
    from data.tokenizers.ngrams import count_tokens_end
    from models.architecture.backbone import TOKEN_EMBEDDING_NAME
    from models.architecture.builders import get_backbone
    from models.engine.inference import load_run

    loaded = load_run(teacher)
    table = get_backbone(loaded.model).get_layer(TOKEN_EMBEDDING_NAME).embeddings
    rows = np.asarray(keras.ops.convert_to_numpy(table))
    fixed = count_tokens_end()  # the specials and count tokens: rows every student keeps
    if config.tokenizer.max_ngrams is None:
        config.tokenizer.max_ngrams = linear_student_ngrams(loaded.model.count_params(), rows.shape[1])
    weight = np.linalg.norm(rows, axis=1)
    weight[:fixed] = -1.0
    order = np.argsort(-weight, kind="stable")[: config.tokenizer.max_ngrams]
    return load_tokenizer(teacher.tokenizer_dir).subset(order[weight[order] > 0])


def linear_student_ngrams(teacher_params: int, classes: int) -> int:
    """How many n-grams a linear student keeps so that its float32 file is a tenth of its teacher's (the
    file's graph, the head and the specials' rows counted), but at least MIN_STUDENT_NGRAMS (a small
    teacher's tenth would hold next to nothing)."""
    from data.tokenizers.ngrams import count_tokens_end

    per_row = classes + LINEAR_TABLES
    teacher_bytes = 4 * teacher_params + TFLITE_OVERHEAD_BYTES
    own = classes * (classes + 1) + count_tokens_end() * per_row + TFLITE_OVERHEAD_BYTES / 4
    return max(MIN_STUDENT_NGRAMS, int((STUDENT_SHARE * teacher_bytes / 4 - own) // per_row))


def with_teacher(config: RunConfig, run: RunDir, prepared: Any) -> Any:
    """``prepared`` with the teacher's soft labels in its training and validation targets, the training set
    grown by the extra unlabelled texts and perturbed copies of the training texts; unchanged when not
    distilling."""
    if not config.distill.teacher:
        return prepared
    from data.pipelines import IN_ORDER, EpochOrder, pack_for_classification, soft_label_dataset

    _check_student(config)
    teacher = teacher_run(config.workspace, config.distill.teacher)
    labels = list(prepared.labels)
    texts = {split: list(prepared.texts[split][0]) for split in ("train", "val", "test")}
    extra = _unlabelled_texts(config, texts)
    copies = augment_copies(config.distill.augment, len(texts["train"]), config.model.kind in FITTED_KINDS)
    extra += perturbed_copies(texts["train"], copies, config.train.seed)
    soft = TeacherLabels(teacher, labels, config.distill.temperature)
    t, num_classes = config.train, len(labels)

    train_x = prepared.train_arrays[0]
    train_y = soft_targets(soft.probabilities(texts["train"]), prepared.train_arrays[1], num_classes)
    if extra:
        extra_x, _ = pack_for_classification(prepared.tokenizer, extra, config.model.seq_len)
        extra_y = soft_targets(soft.probabilities(extra), None, num_classes)
        train_x, train_y = np.concatenate([train_x, extra_x]), np.concatenate([train_y, extra_y])
    # A fitted student is fitted once, to the blend of the teacher's probabilities (at T) and the labels: at
    # T = 1 the minimum of distill_loss's (KL and cross-entropy differ by a constant); other T soften the
    # targets only, the student's own logits are not divided.
    if config.model.kind in FITTED_KINDS:
        a = config.distill.alpha
        blend = a * train_y[:, :num_classes] + (1.0 - a) * train_y[:, num_classes:-1]
        unlabelled = train_y[:, -1] == 0
        blend[unlabelled] = train_y[unlabelled, :num_classes]
        prepared.soft_train = (train_x, blend)
        prepared.report["distillation"] = _distillation_report(config, teacher, prepared, extra, copies)
        _record_lineage(run, teacher, config, len(extra), copies)
        return prepared
    val_x, val_y = prepared.val_arrays
    val_targets = soft_targets(soft.probabilities(texts["val"]), val_y, num_classes)

    def train_factory(epoch: int) -> Any:
        return soft_label_dataset(train_x, train_y, t.batch_size, EpochOrder(seed=t.seed, epoch=epoch))

    prepared.train_factory = train_factory
    prepared.batches_per_pass = -(-len(train_x) // t.batch_size)
    if len(val_x):
        prepared.val = soft_label_dataset(val_x, val_targets, t.batch_size, IN_ORDER)
    prepared.report["distillation"] = _distillation_report(config, teacher, prepared, extra, copies)
    _record_lineage(run, teacher, config, len(extra), copies)
    return prepared


def _distillation_report(config: RunConfig, teacher: RunDir, prepared: Any, extra: list, copies: int) -> dict:
    return {
        "teacher": teacher.id,
        "temperature": config.distill.temperature,
        "alpha": config.distill.alpha,
        "labelled_rows": len(prepared.train_arrays[0]),
        "unlabelled_rows": len(extra),
        "augment": copies,
    }


def augment_copies(asked: int | None, train_rows: int, fitted: bool = False) -> int:
    """The perturbed copies per training text: the user's number, else enough for about TRANSFER_ROWS rows
    (at most MAX_COPIES; none for a large training split). None for a student fitted in closed form unless
    asked: copies multiply its fit's time and did not raise its test score (fortunes, 2 copies: 0.523 vs
    0.526 in 5x the time; sms_spam: the same score)."""
    if asked is not None:
        return max(0, int(asked))
    if fitted:
        return 0
    return min(MAX_COPIES, max(0, -(-TRANSFER_ROWS // max(1, train_rows)) - 1))


def selected_by(config: RunConfig, score: str | None) -> str | None:
    """What picks a run's best epoch (and stops it early): a student's validation macro-F1, since its
    validation loss mostly measures how closely it follows the teacher; a hashed bag's too (on fortunes its
    validation loss rose from epoch 6 while macro-F1 climbed to epoch 18: test 0.415 by loss, 0.492 by
    macro-F1); other runs' task's own choice."""
    if config.distill.teacher or (config.model.kind in SCORE_SELECTED_KINDS and score is None):
        return "val_macro_f1"
    return score


def soft_targets(probabilities: np.ndarray, labels: np.ndarray | None, num_classes: int) -> np.ndarray:
    """``[N, 2C + 1]`` float32 rows: the teacher's probabilities, the one-hot label (zeros without one) and
    1.0 where the row has a label."""
    n = len(probabilities)
    hard = np.zeros((n, num_classes), dtype=np.float32)
    flag = np.zeros((n, 1), dtype=np.float32)
    if labels is not None:
        hard[np.arange(n), np.asarray(labels, dtype=np.int64)] = 1.0
        flag[:] = 1.0
    return np.concatenate([probabilities.astype(np.float32), hard, flag], axis=1)


class TeacherLabels:
    """A loaded teacher that answers with probabilities over the student's labels, in the student's order."""

    def __init__(self, teacher: RunDir, labels: list[str], temperature: float = 1.0):
        from models.engine.inference import load_run

        self.run = teacher
        self.loaded = load_run(teacher)
        self.temperature = float(temperature)
        known = list(self.loaded.labels)
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise DataError(
                f"the data has label(s) {', '.join(map(repr, unknown[:10]))} that the teacher "
                f"'{teacher.id}' does not know; its labels are {', '.join(map(repr, known[:20]))}.",
                hint="distil on the teacher's own data (the default), or on data with the teacher's labels.",
            )
        self.columns = [known.index(label) for label in labels]  # the teacher's logits, student's order

    def logits(self, texts: list[str]) -> np.ndarray:
        """The teacher's logits for ``texts`` over the student's labels."""
        from data.pipelines import pack_for_classification

        if not texts:
            return np.zeros((0, len(self.columns)), dtype=np.float32)
        ids, _ = pack_for_classification(self.loaded.tokenizer, texts, self.loaded.seq_len)
        out = self.loaded.model.predict(ids, batch_size=TEACHER_BATCH, verbose=0)
        return np.asarray(out, dtype=np.float32)[:, self.columns]

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """softmax(logits / T): the soft labels (a label the data lacks has its share spread over the rest)."""
        return softmax(self.logits(texts) / self.temperature)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def teacher_report(config: RunConfig, model: Any, prepared: Any) -> dict[str, Any]:
    """The student beside its teacher on the same test texts: both scores, how often they agree, their sizes."""
    teacher = TeacherLabels(teacher_run(config.workspace, config.distill.teacher), list(prepared.labels))
    x, y = prepared.test_arrays
    texts = list(prepared.texts["test"][0])
    taught = np.argmax(teacher.logits(texts), axis=-1)
    student = np.argmax(model.predict(x, batch_size=128, verbose=0), axis=-1)
    scores = classification_metrics(y, taught, prepared.labels)
    student_f1 = classification_metrics(y, student, prepared.labels)["macro_f1"]
    teacher_params, student_params = int(teacher.loaded.model.count_params()), int(model.count_params())
    return {
        "run": teacher.run.id,
        "kind": teacher.run.config().model.kind,
        "macro_f1": scores["macro_f1"],
        "accuracy": scores["accuracy"],
        "agreement": float(np.mean(taught == student)) if len(student) else None,
        "student_share_of_teacher_macro_f1": student_f1 / scores["macro_f1"] if scores["macro_f1"] else None,
        "params": teacher_params,
        "student_params": student_params,
        "student_size_ratio": student_params / teacher_params if teacher_params else None,
    }


def _check_student(config: RunConfig) -> None:
    if tasks.get(config.task).interface != tasks.CLASSIFY:
        raise DataError(
            f"distillation trains classifiers; this run's task is {config.task}.",
            hint="distil into a classifier (python -m app distill --from TEACHER).",
        )
    if not 0.0 <= config.distill.alpha <= 1.0 or config.distill.temperature <= 0:
        raise DataError(
            f"distill.alpha must be within 0..1 and distill.temperature above 0 (got alpha "
            f"{config.distill.alpha}, temperature {config.distill.temperature}).",
            hint="the defaults are alpha 0.5 and temperature 1.",
        )


def _unlabelled_texts(config: RunConfig, splits: dict[str, list[str]]) -> list[str]:
    """The extra texts, one per row (labels ignored), less any that are validation or test texts: the student
    must not be taught the teacher's answers on the texts it is scored on."""
    path = config.distill.unlabelled_path
    if not path:
        return []
    from data.loaders import load_dataset

    loaded = load_dataset(path, text_column=config.data.text_column, text_mode="lines", need_labels=False)
    held_out = set(splits["val"]) | set(splits["test"])
    return [text for text in loaded.frame["text"].tolist() if text not in held_out]


def _record_lineage(
    run: RunDir, teacher: RunDir, config: RunConfig, unlabelled_rows: int, copies: int
) -> None:
    """lineage.json, once: the teacher and how it taught (a resumed student keeps the record it started with)."""
    if run.lineage_path.exists():
        return
    status = teacher.status()
    atomic_write_json(
        run.lineage_path,
        {
            "relation": "teacher",
            "parent_id": teacher.id,
            "parent_path": str(teacher.path.resolve()),
            "parent_task": teacher.config().task,
            "parent_kind": teacher.config().model.kind,
            "parent_step": int(status.get("step") or 0),
            "parent_best": status.get("headline") or status.get("best"),
            "parent_model": str(teacher.trained_model.relative_to(teacher.path)),
            "temperature": config.distill.temperature,
            "alpha": config.distill.alpha,
            "unlabelled_path": config.distill.unlabelled_path,
            "unlabelled_rows": unlabelled_rows,
            "augment": copies,
            "created": time.time(),
        },
    )
    run.write_status(from_run=teacher.id)
