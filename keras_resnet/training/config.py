"""What a training run depends on (:class:`TrainConfig`), checked when it is made,
and the record a run leaves beside its model (:func:`read_run_config`).

Light to import (no TensorFlow): command lines build and check a config
before loading it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from keras_resnet import weights
from keras_resnet.datasets.info import AUGMENTATIONS, BAD_IMAGES
from keras_resnet.distribute import STRATEGIES
from keras_resnet.specs import SHORTCUTS, ResNetSpec, resolve_spec
from keras_resnet.training.presets import RECIPES, TRANSFER

LR_SCHEDULES = ("step", "cosine", "constant")
OPTIMIZERS = ("sgd", "adamw")
MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16")
AUGMENT_CHOICES = ("auto", *AUGMENTATIONS)
CLASS_WEIGHTS = ("none", "balanced")
DECAY_FACTOR = 0.1  # §3.4 / §4.2: "divided by 10"
DEFAULT_DECAY_AT = (0.5, 0.75)  # §4.2: 32k and 48k of 64k iterations
RUN_CONFIG = "config.json"  # written by fit beside final.keras / best.keras


def default_decay_epochs(epochs: float) -> tuple[float, ...]:
    """The step schedule's decay epochs when none are given: 50 % and 75 % of ``epochs`` (§4.2)."""
    return tuple(f * epochs for f in DEFAULT_DECAY_AT)


def _default_model_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "keras_resnet", "run")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; each field is a flag of ``python -m keras_resnet.training``.

    Model: ``model`` (any :func:`keras_resnet.get_model` name), ``plain``
    (the plain twin, §4.1), ``shortcut`` (``"A"``/``"B"``/``"C"``, §3.3; ``None``:
    the family's default), ``width_multiplier`` (CIFAR nets), ``image_size``
    (``None``: the net's :attr:`~keras_resnet.specs.ResNetSpec.default_size`).

    Data: ``dataset``, ``data_dir`` (see :func:`keras_resnet.datasets.load`),
    ``classes`` (keep only these labels, renumbered 0..k-1),
    ``examples_per_class``, ``train_examples``, ``eval_examples`` (first N),
    ``augment`` (``"auto"``: ``"cifar"`` for CIFAR nets, ``"imagenet"`` else).

    Photo folders and imbalance: ``validation_split`` (a folder's fraction
    of each class's training images held out for validation, the same draw
    in every run; ``None``: 10 % of a folder without ``val/`` or ``test/``),
    ``class_weight`` (``"balanced"``: weigh each class's loss by
    ``n / (k * n_c)``), ``bad_images`` (``"skip"`` or ``"fail"`` on image
    files that cannot be decoded; see :mod:`keras_resnet.datasets.scan`).

    Recipe: ``recipe`` (the preset the other fields started from, see
    :func:`recipe_config`), ``optimizer`` (``"sgd"`` with ``momentum``, or
    ``"adamw"``), ``epochs``, ``global_batch_size``, ``learning_rate``,
    ``weight_decay`` (SGD: an L2 penalty; AdamW: decoupled), ``bn_momentum``,
    ``sync_batch_norm``, ``lr_schedule`` (``"step"``, ``"cosine"`` or
    ``"constant"``), ``lr_decay_epochs`` (step schedule; ``None``: at 50 % and
    75 % of ``epochs``), ``warmup_steps`` or ``warmup_epochs`` at (step,
    constant) or from (cosine: linearly) ``warmup_learning_rate``,
    ``label_smoothing``; Keras' augmentation layers on top of ``augment``:
    ``rand_augment`` (operations per image, 0: off), ``mixup`` (MixUp's
    alpha) and ``cutmix`` (CutMix's factor in [0, 1]; 0: off; both: one of
    them per batch),
    ``random_erasing`` (probability); ``ema`` (evaluate and save the
    optimizer's moving average of the weights) with ``ema_momentum``.

    Transfer (see :mod:`keras_resnet.transfer`): ``init_weights`` (a
    ``.keras`` model or ``"imagenet"``), ``freeze``, ``fine_tune_epochs``,
    ``fine_tune_stages``, ``fine_tune_learning_rate`` (``None``:
    ``learning_rate / 10``).

    Run: ``model_dir``, ``strategy``, ``logical_cpus`` (split the CPU into
    this many devices; 0: don't), ``tpu``, ``mixed_precision``,
    ``jit_compile``, ``seed``, ``backup_freq`` (``"epoch"`` or a step count).
    """

    model: str = "resnet20"
    plain: bool = False
    shortcut: str | None = None
    width_multiplier: float = 1.0
    image_size: int | None = None
    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    classes: tuple[int, ...] | None = None
    examples_per_class: int | None = None
    train_examples: int | None = None
    eval_examples: int | None = None
    augment: str = "auto"
    validation_split: float | None = None
    class_weight: str = "none"
    bad_images: str = "skip"
    recipe: str = "paper"
    optimizer: str = "sgd"
    epochs: int = 3
    global_batch_size: int = 128
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    bn_momentum: float = 0.9
    sync_batch_norm: bool = True
    lr_schedule: str = "step"
    lr_decay_epochs: tuple[float, ...] | None = None
    warmup_steps: int = 0
    warmup_epochs: float = 0.0
    warmup_learning_rate: float = 0.01
    label_smoothing: float = 0.0
    rand_augment: int = 0
    mixup: float = 0.0
    cutmix: float = 0.0
    random_erasing: float = 0.0
    ema: bool = False
    ema_momentum: float = 0.99
    init_weights: str | None = None
    freeze: str = "backbone"
    fine_tune_epochs: int = 0
    fine_tune_stages: int = 1
    fine_tune_learning_rate: float | None = None
    model_dir: str = dataclasses.field(default_factory=_default_model_dir)
    strategy: str = "default"
    logical_cpus: int = 0
    tpu: str = ""
    mixed_precision: str = "none"
    jit_compile: bool = False
    seed: int = 0
    backup_freq: str | int = "epoch"

    def __post_init__(self) -> None:
        for name, allowed in (("shortcut", (None, *SHORTCUTS)), ("augment", AUGMENT_CHOICES),
                              ("lr_schedule", LR_SCHEDULES), ("mixed_precision", MIXED_PRECISION),
                              ("recipe", tuple(RECIPES)), ("optimizer", OPTIMIZERS),
                              ("strategy", STRATEGIES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}; received {name}={getattr(self, name)!r}")
        for name in ("epochs", "global_batch_size"):
            _check_int(self, name, low=1)
        for name in ("warmup_steps", "fine_tune_epochs", "fine_tune_stages", "logical_cpus", "seed", "rand_augment"):
            _check_int(self, name, low=0)
        for name in ("image_size", "examples_per_class", "train_examples", "eval_examples"):
            if getattr(self, name) is not None:
                _check_int(self, name, low=1)
        for name in ("learning_rate", "width_multiplier", "bn_momentum"):
            _check_float(self, name, positive=True)
        for name in ("momentum", "weight_decay", "warmup_epochs", "warmup_learning_rate", "label_smoothing", "mixup",
                     "cutmix", "random_erasing", "ema_momentum"):
            _check_float(self, name, positive=False)
        if self.bn_momentum >= 1:
            raise ValueError(f"`bn_momentum` must be in (0, 1); received bn_momentum={self.bn_momentum!r}")
        for name in ("label_smoothing", "ema_momentum"):
            if getattr(self, name) >= 1:
                raise ValueError(f"`{name}` must be in [0, 1); received {name}={getattr(self, name)!r}")
        for name in ("random_erasing", "cutmix"):
            if getattr(self, name) > 1:
                raise ValueError(f"`{name}` must be in [0, 1]; received {name}={getattr(self, name)!r}")
        if self.warmup_steps and self.warmup_epochs:
            raise ValueError(f"Give `warmup_steps` or `warmup_epochs`, not both; received warmup_steps="
                             f"{self.warmup_steps!r} and warmup_epochs={self.warmup_epochs!r}")
        if self.fine_tune_learning_rate is not None:
            _check_float(self, "fine_tune_learning_rate", positive=True)
        if self.backup_freq != "epoch" and not (isinstance(self.backup_freq, int) and self.backup_freq > 0):
            raise ValueError(f"`backup_freq` must be 'epoch' or a positive number of steps; "
                             f"received backup_freq={self.backup_freq!r}")
        if self.lr_decay_epochs is not None:
            decay = tuple(self.lr_decay_epochs)
            if any(not 0 < e <= self.epochs for e in decay) or list(decay) != sorted(set(decay)):
                raise ValueError(f"`lr_decay_epochs` must increase within (0, epochs={self.epochs}]; "
                                 f"received lr_decay_epochs={self.lr_decay_epochs!r}")
        if self.lr_schedule == "constant" and self.lr_decay_epochs:
            raise ValueError(f"`lr_decay_epochs` needs lr_schedule='step'; received lr_schedule='constant' and "
                             f"lr_decay_epochs={self.lr_decay_epochs!r}")
        _check_photo_fields(self)
        resolve_spec(self.model, self.width_multiplier)  # a net that does not exist: ValueError naming `model`
        if self.init_weights and weights.is_name(self.init_weights):  # fits the net: checked before any import
            try:
                weights.entry_for(self.spec, self.init_weights)
            except ValueError as err:
                raise ValueError(f"`init_weights`: {err}") from None
        if self.fine_tune_epochs and not self.init_weights:
            raise ValueError("`fine_tune_epochs` needs `init_weights` (a .keras model or 'imagenet')")

    @property
    def spec(self) -> ResNetSpec:
        """The net ``model`` names, at ``width_multiplier``."""
        return resolve_spec(self.model, self.width_multiplier)

    @property
    def input_size(self) -> int:
        """``image_size``, else the net's default input side (32 for CIFAR nets, 224 for ImageNet nets)."""
        return self.image_size or self.spec.default_size

    @property
    def cifar(self) -> bool:
        """Whether ``model`` is a CIFAR-style net (§4.2)."""
        return self.spec.stem == "cifar"

    @property
    def soft_labels(self) -> bool:
        """Whether labels are probability vectors (label smoothing, mixup or cutmix need them)."""
        return bool(self.label_smoothing or self.mixup or self.cutmix)

    @property
    def resolved_augment(self) -> str:
        if self.augment != "auto":
            return self.augment
        return "cifar" if self.cifar else "imagenet"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_photo_fields(config: TrainConfig) -> None:
    for name, allowed in (("class_weight", CLASS_WEIGHTS), ("bad_images", BAD_IMAGES)):
        if getattr(config, name) not in allowed:
            raise ValueError(f"`{name}` must be one of {allowed}; received {name}={getattr(config, name)!r}")
    split = config.validation_split
    if split is not None and (isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 < split < 1):
        raise ValueError(f"`validation_split` must be a fraction in (0, 1) or None; "
                         f"received validation_split={split!r}")
def recipe_config(recipe: str = "paper", **fields: Any) -> TrainConfig:
    """The :class:`TrainConfig` of the named ``recipe`` (one of
    :data:`~keras_resnet.training.presets.RECIPES`) with ``fields`` on top:
    a preset sets defaults, explicit settings win. With ``init_weights``, the
    recipe's transfer settings (:data:`~keras_resnet.training.presets.TRANSFER`) apply too."""
    if recipe not in RECIPES:
        raise ValueError(f"`recipe` must be one of {tuple(RECIPES)}; received recipe={recipe!r}")
    preset = {**RECIPES[recipe], **(TRANSFER[recipe] if fields.get("init_weights") else {})}
    return TrainConfig(**{**preset, **fields, "recipe": recipe})


def _check_int(config: TrainConfig, name: str, low: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}; received {name}={value!r}")


def _check_float(config: TrainConfig, name: str, positive: bool) -> None:
    value = getattr(config, name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise ValueError(f"`{name}` must be a finite number {'> 0' if positive else '>= 0'}; "
                         f"received {name}={value!r}")


def read_run_config(model_path: str | os.PathLike) -> dict[str, Any] | None:
    """The run record :func:`keras_resnet.training.fit` wrote beside the model
    file ``model_path`` (``final.keras`` or ``best.keras``): every
    :class:`TrainConfig` field, the resolved ``image_size``, ``spec`` (the
    net's :class:`~keras_resnet.specs.ResNetSpec` as a dict), ``num_classes``,
    ``class_names``... ``None`` for a model not trained here (no readable record)."""
    try:
        data = json.loads((Path(model_path).parent / RUN_CONFIG).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
