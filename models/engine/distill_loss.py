"""The distillation loss and accuracy over ``[teacher probabilities | one-hot label | has-label]`` targets."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def _split(y_true: Any, num_classes: int) -> tuple[Any, Any, Any]:
    y_true = ops.cast(y_true, "float32")
    return (
        y_true[:, :num_classes],
        y_true[:, num_classes : 2 * num_classes],
        y_true[:, 2 * num_classes],
    )


@keras.saving.register_keras_serializable(package="textlab")
class DistillationLoss(keras.losses.Loss):
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy with the label, per example.

    T^2 keeps the soft term's gradients on the scale of the hard term's as T grows (Hinton et al., 2015).
    Rows without a label (extra unlabelled texts) carry only the soft term. Our own class: Keras has KL and
    cross-entropy losses but none that mixes a temperature-scaled teacher term with the labels'.
    """

    def __init__(
        self, num_classes: int, temperature: float = 1.0, alpha: float = 0.5, name: str = "distillation", **kw
    ):
        super().__init__(name=name, **kw)
        self.num_classes = int(num_classes)
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        soft, hard, labelled = _split(y_true, self.num_classes)
        logits = ops.cast(y_pred, "float32")
        t = self.temperature
        student_t = ops.log_softmax(logits / t, axis=-1)
        teacher_log = ops.log(ops.maximum(soft, 1e-12))
        kl = ops.sum(soft * (teacher_log - student_t), axis=-1) * (t * t)
        ce = -ops.sum(hard * ops.log_softmax(logits, axis=-1), axis=-1)
        return self.alpha * kl + (1.0 - self.alpha) * labelled * ce

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "temperature": self.temperature,
            "alpha": self.alpha,
        }


@keras.saving.register_keras_serializable(package="textlab")
class DistillationAccuracy(keras.metrics.MeanMetricWrapper):
    """Accuracy against the label where a row has one, else against the teacher's top class."""

    def __init__(self, num_classes: int, name: str = "accuracy", **kw):
        super().__init__(fn=_target_hits, name=name, num_classes=int(num_classes), **kw)
        self.num_classes = int(num_classes)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "num_classes": self.num_classes}


def _target_hits(y_true: Any, y_pred: Any, num_classes: int) -> Any:
    soft, hard, labelled = _split(y_true, num_classes)
    target = ops.where(labelled > 0.5, ops.argmax(hard, axis=-1), ops.argmax(soft, axis=-1))
    return ops.cast(ops.equal(target, ops.argmax(y_pred, axis=-1)), "float32")
