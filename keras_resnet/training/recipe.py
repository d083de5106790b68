"""The paper's recipe (He et al. 2016, CVPR) as Keras objects: the model with
its input normalization and head, L2 weight decay on conv and dense kernels,
batch-norm momentum, SGD with momentum, the learning-rate schedules, and the
phases of a run (one from scratch; head, then fine-tuning, for transfer).

The default recipe: SGD with momentum 0.9, weight decay 1e-4 on conv and
dense kernels (not on BN or biases), He normal init, global mini-batch 128
and learning rate 0.1 divided by 10 twice (§4.2: at 32k and 48k of 64k
iterations, i.e. at 50 % and 75 % of training; §3.4 for ImageNet: /10 when
the error plateaus), optionally after a warm-up at 0.01 (§4.2, ResNet-110).
A cosine schedule and a constant rate are options. The fine-tuning
recipe's optimizer (AdamW with decoupled weight decay), label smoothing and
weight averaging (EMA) are here too; its augmentations are in
:mod:`~keras_resnet.training.augment`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_resnet import datasets, transfer
from keras_resnet.models import get_model
from keras_resnet.training.config import DECAY_FACTOR, LR_SCHEDULES, TrainConfig, default_decay_epochs


def decayed_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers whose kernels :func:`apply_weight_decay` decays: every conv and dense layer."""
    return [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]


def apply_weight_decay(model: keras.Model, weight_decay: float) -> None:
    """L2 weight decay on every conv and dense kernel, none on BN or biases.

    Caffe-style decay (the paper's): ``weight_decay * w`` is added to the
    gradient, i.e. an L2 penalty ``weight_decay / 2 * ||w||^2`` in the loss,
    which momentum then accumulates like any gradient.
    """
    regularizer = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
    for layer in decayed_layers(model):
        layer.kernel_regularizer = regularizer
        layer.kernel.regularizer = regularizer


def configure_batch_norm(model: keras.Model, momentum: float, synchronized: bool) -> None:
    """Momentum of every BatchNormalization's moving statistics, and whether
    its batch statistics are all-reduced over the replicas.

    Momentum 0.9 (Torch's value) tracks the weights within a few dozen steps;
    Keras' default 0.99 lags for hundreds, which makes the inference accuracy
    of short runs (a few epochs, or transfer on 500 images) much worse than
    their training accuracy. Synchronized statistics make a step the same
    whatever the number of replicas, and the moving statistics identical on
    every worker (the paper's BN was per GPU; ``synchronized=False`` gives
    that). With one replica, keep it off: it only adds work.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
            layer.synchronized = synchronized


def learning_rate_schedule(kind: str, learning_rate: float, total_steps: int, decay_steps: Sequence[int] = (),
                           warmup_steps: int = 0, warmup_learning_rate: float = 0.01
                           ) -> keras.optimizers.schedules.LearningRateSchedule:
    """``"step"``: ``learning_rate`` divided by 10 at each of ``decay_steps``,
    after ``warmup_steps`` at ``warmup_learning_rate`` (the paper's warm-up,
    §4.2). ``"constant"``: the same without decays. ``"cosine"``: linear
    warm-up from ``warmup_learning_rate``, then cosine decay to 0 at
    ``total_steps``."""
    if kind not in LR_SCHEDULES:
        raise ValueError(f"`lr_schedule` must be one of {LR_SCHEDULES}; received lr_schedule={kind!r}")
    if kind == "cosine":
        if not warmup_steps:
            return keras.optimizers.schedules.CosineDecay(learning_rate, max(1, total_steps))
        return keras.optimizers.schedules.CosineDecay(
            warmup_learning_rate, max(1, total_steps - warmup_steps),
            warmup_target=learning_rate, warmup_steps=warmup_steps)
    decay_steps = sorted({s for s in decay_steps if s > warmup_steps}) if kind == "step" else []
    starts = ([warmup_steps] if warmup_steps else []) + decay_steps
    values = ([warmup_learning_rate] if warmup_steps else []) + [
        learning_rate * DECAY_FACTOR ** i for i in range(len(decay_steps) + 1)]
    if not starts:
        return keras.optimizers.schedules.PiecewiseConstantDecay([total_steps], [learning_rate] * 2)
    # PiecewiseConstantDecay keeps the old value while step <= boundary; step s is the (s+1)-th update.
    return keras.optimizers.schedules.PiecewiseConstantDecay([s - 1 for s in starts], values)


def l2_weight_decay(config: TrainConfig) -> float:
    """The L2 penalty :func:`apply_weight_decay` adds: ``weight_decay`` for SGD;
    none for AdamW, whose decay is decoupled from the gradient (Loshchilov & Hutter 2019)."""
    return config.weight_decay if config.optimizer == "sgd" else 0.0


def make_optimizer(config: TrainConfig, schedule: Any, model: keras.Model) -> keras.optimizers.Optimizer:
    """``config.optimizer`` at learning rate ``schedule``: SGD with ``momentum``
    (§3.4), or AdamW decaying the kernels :func:`decayed_layers` names (not BN
    or biases) by ``weight_decay``; with ``config.ema``, the optimizer keeps a
    moving average of the weights, which Keras' ``fit`` writes into the model
    when it ends (``finalize_variable_values``)."""
    ema = {"use_ema": config.ema, "ema_momentum": config.ema_momentum}
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=schedule, momentum=config.momentum, **ema)
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay, **ema)
    kernels = {id(layer.kernel) for layer in decayed_layers(model)}
    optimizer.exclude_from_weight_decay(var_list=[w for w in model.weights if id(w) not in kernels])
    return optimizer


def compile_model(model: keras.Model, schedule: Any, momentum: float, num_classes: int,
                  jit_compile: bool, steps_per_execution: int = 1, *,
                  optimizer: keras.optimizers.Optimizer | None = None, soft_labels: bool = False,
                  label_smoothing: float = 0.0) -> None:
    """SGD with momentum (§3.4) or ``optimizer``, cross-entropy, top-1 and top-k (k=min(5, classes)) accuracy.

    The ``loss`` Keras logs includes the weight-decay penalty and label
    smoothing; the ``cross_entropy`` metric is the data loss alone (what the
    papers plot). Labels are class numbers, or with ``soft_labels``
    probability vectors (one-hot, mixed by mixup/cutmix).
    ``steps_per_execution`` is Keras' (training steps per ``tf.function`` call).
    """
    if label_smoothing and not soft_labels:
        raise ValueError("`label_smoothing` needs soft_labels=True (one-hot labels)")
    k = min(5, num_classes)
    if soft_labels:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy"),
                   keras.metrics.TopKCategoricalAccuracy(k=k, name=f"top{k}"),
                   keras.metrics.CategoricalCrossentropy(name="cross_entropy")]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = ["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top{k}"),
                   keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy")]
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(learning_rate=schedule, momentum=momentum),
        loss=loss,
        metrics=metrics,
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )


def build_model(config: TrainConfig, num_classes: int, mean: np.ndarray, std: float) -> keras.Model:
    """The net ``config`` names, taking raw RGB pixels in [0, 255]: per-pixel
    mean subtraction (``preprocess`` layer), the net, a float32 softmax head."""
    size = config.input_size
    inputs = keras.Input((size, size, 3), name="image")
    kwargs: dict[str, Any] = {"plain": config.plain, "shortcut": config.shortcut}
    if config.width_multiplier != 1.0:
        kwargs["width_multiplier"] = config.width_multiplier
    features = get_model(config.model, include_top=False, pooling="avg", input_shape=(size, size, 3),
                         input_tensor=datasets.normalization_layer(mean, std)(inputs), **kwargs)
    return transfer.add_head(features, num_classes)


@dataclasses.dataclass(frozen=True)
class Phase:
    """A stretch of training with one optimizer: ``freeze`` as in
    :func:`keras_resnet.transfer.freeze`."""

    name: str
    epochs: int
    learning_rate: float
    freeze: str
    decay_epochs: tuple[float, ...] | None
    warmup_steps: int
    warmup_epochs: float = 0.0


def phases(config: TrainConfig, model: keras.Model) -> list[Phase]:
    """One phase from scratch; transfer learning's two: the new head on a
    frozen backbone, then ``fine_tune_stages`` top stages unfrozen at a lower
    learning rate. Only the first phase is warmed up with ``warmup_steps``;
    ``warmup_epochs`` warms up each phase (its optimizer starts afresh)."""
    warmup = (config.warmup_steps, config.warmup_epochs)
    if not config.init_weights:
        return [Phase("train", config.epochs, config.learning_rate, "none", config.lr_decay_epochs, *warmup)]
    first = Phase("head", config.epochs, config.learning_rate, config.freeze, config.lr_decay_epochs, *warmup)
    if not config.fine_tune_epochs:
        return [first]
    lr = config.fine_tune_learning_rate or config.learning_rate * DECAY_FACTOR
    until = transfer.fine_tune_freeze(model, config.fine_tune_stages)
    return [first, Phase("fine_tune", config.fine_tune_epochs, lr, until, None, 0, config.warmup_epochs)]


def phase_schedule(config: TrainConfig, phase: Phase, steps_per_epoch: int) -> Any:
    """The learning-rate schedule of ``phase`` with ``steps_per_epoch`` steps per epoch."""
    decay = phase.decay_epochs or default_decay_epochs(phase.epochs)
    warmup = phase.warmup_steps or round(phase.warmup_epochs * steps_per_epoch)
    return learning_rate_schedule(config.lr_schedule, phase.learning_rate, phase.epochs * steps_per_epoch,
                                  [round(e * steps_per_epoch) for e in decay], warmup, config.warmup_learning_rate)
