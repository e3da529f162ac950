"""AdamW with a lower learning rate for the pretrained backbone's variables (fine-tuning), serializable."""

from __future__ import annotations

from collections.abc import Iterable

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="textlab")
class BackboneScaledAdamW(keras.optimizers.AdamW):
    """AdamW whose step (and decoupled weight decay) is ``learning_rate * backbone_scale`` for every variable
    owned by a layer named in ``backbone_layers``, and ``learning_rate`` for the rest (the head).

    ``backbone_scale`` is an optimizer variable: ``backbone_lr_multiplier`` normally, 0.0 while the backbone
    is frozen (``freeze_backbone``), so a frozen backbone's weights stay exactly as they are. Freezing
    through the optimizer, not ``layer.trainable``, keeps one optimizer over one variable set: on JAX Keras
    applies an optimizer only to the exact variables it was built with, and a checkpoint written while
    frozen reloads with every slot (Keras builds a loaded optimizer before it restores trainable flags).
    The cost: frozen epochs still compute the backbone's gradients.

    Why the learning rate and not the gradient: Adam divides by the running RMS of the gradient, so scaling
    the gradient leaves the update unchanged. Variables are matched by the first component of their path
    (``transformer_layer_0/.../kernel`` -> ``transformer_layer_0``): the backbone's layers are created at
    the top name scope, so paths carry no ``backbone/`` prefix. The names go into ``get_config``, so a
    checkpoint reloads with the same split.
    """

    def __init__(
        self,
        *args,
        backbone_lr_multiplier: float = 1.0,
        backbone_layers: Iterable[str] = (),
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if backbone_lr_multiplier <= 0:
            raise ValueError(f"backbone_lr_multiplier must be > 0, got {backbone_lr_multiplier}")
        self.backbone_lr_multiplier = float(backbone_lr_multiplier)
        self.backbone_layers = sorted(set(backbone_layers))
        self._scaled: list[bool] = []

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.backbone_scale = self.add_variable(
            shape=(),
            initializer=keras.initializers.Constant(self.backbone_lr_multiplier),
            dtype="float32",
            name="backbone_scale",
        )
        names = set(self.backbone_layers)
        # Indexed like the optimizer's slots; update_step may receive a backend-native variable (TF), so
        # the variable's path is looked up through its index rather than read from the argument.
        self._scaled = [v.path.split("/", 1)[0] in names for v in var_list]

    def is_scaled(self, variable) -> bool:
        """True when ``variable`` (a model variable the optimizer was built with) gets the backbone rate."""
        return self._scaled[self._get_variable_index(variable)]

    def freeze_backbone(self, frozen: bool) -> None:
        """Backbone steps at rate 0 (frozen) or at ``backbone_lr_multiplier`` times the head's rate."""
        self.backbone_scale.assign(0.0 if frozen else self.backbone_lr_multiplier)

    def update_step(self, gradient, variable, learning_rate):
        if self.is_scaled(variable):
            learning_rate = ops.multiply(learning_rate, ops.cast(self.backbone_scale, "float32"))
        if self.weight_decay is not None and self._use_weight_decay(variable):
            # Decoupled decay at the variable's own rate, as in AdamW (lr * wd), before the Adam step.
            lr = ops.cast(learning_rate, variable.dtype)
            self.assign_sub(
                variable, ops.multiply(variable, lr * ops.cast(self.weight_decay, variable.dtype))
            )
        super().update_step(gradient, variable, learning_rate)

    def _apply_weight_decay(self, variables):
        """No-op: update_step applies the decay with the per-variable learning rate."""
        return

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "backbone_lr_multiplier": self.backbone_lr_multiplier,
            "backbone_layers": list(self.backbone_layers),
        }


def backbone_layer_names(model: keras.Model) -> list[str]:
    """Names of the backbone's weight-owning layers: the path prefixes BackboneScaledAdamW scales."""
    from models.architecture.builders import get_backbone

    return sorted({layer.name for layer in get_backbone(model).layers if layer.weights})


def make_optimizer(model: keras.Model, config, schedule) -> keras.optimizers.Optimizer:
    """AdamW for the run; BackboneScaledAdamW for a fine-tune that freezes the backbone or slows it down."""
    t, finetune = config.train, config.finetune
    multiplier = finetune.backbone_lr_multiplier
    kwargs = dict(learning_rate=schedule, weight_decay=t.weight_decay, global_clipnorm=t.clip_norm or None)
    if finetune.from_run and (multiplier != 1.0 or finetune.freeze_backbone_epochs > 0):
        return BackboneScaledAdamW(
            **kwargs, backbone_lr_multiplier=multiplier, backbone_layers=backbone_layer_names(model)
        )
    # AdamW, not Keras' Muon: Muon scored 2.066 against AdamW's 1.955 in the LM recipe's ablation
    # (BENCHMARKS.md "A language model's recipe, one change at a time").
    # Plain AdamW otherwise: on torch it maps to Keras's fused multi-tensor implementation.
    return keras.optimizers.AdamW(**kwargs)
