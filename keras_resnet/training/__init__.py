"""Training with the paper's recipe (He et al. 2016) or a fine-tuning one
(:data:`RECIPES`): :func:`fit` as the Python API, ``python -m keras_resnet.training``
as the command line.

Modules, one job each: :mod:`~keras_resnet.training.config` (what a run
depends on, checked; the run's record), :mod:`~keras_resnet.training.recipe`
(model, weight decay, optimizer, learning-rate schedules, phases),
:mod:`~keras_resnet.training.presets` (the named recipes, as data),
:mod:`~keras_resnet.training.augment` (Keras' augmentation layers on the batches),
:mod:`~keras_resnet.training.callbacks`, :mod:`~keras_resnet.training.loop`
(:func:`fit`) and :mod:`~keras_resnet.training.cli` (the flags).
"""

from __future__ import annotations

from typing import Any

from keras_resnet._lazy import exports
from keras_resnet.tensorflow_only import require_tensorflow
from keras_resnet.training.config import (
    AUGMENT_CHOICES,
    DECAY_FACTOR,
    DEFAULT_DECAY_AT,
    LR_SCHEDULES,
    MIXED_PRECISION,
    OPTIMIZERS,
    RUN_CONFIG,
    TrainConfig,
    default_decay_epochs,
    read_run_config,
    recipe_config,
)
from keras_resnet.training.presets import RECIPES

# Public names of the modules that import TensorFlow, loaded on first use so that the command line can check
# its flags (a TrainConfig) before that import.
_LAZY = {
    "recipe": ("Phase", "apply_weight_decay", "build_model", "compile_model", "configure_batch_norm",
               "decayed_layers", "l2_weight_decay", "learning_rate_schedule", "make_optimizer", "phase_schedule",
               "phases"),
    "augment": ("training_batches",),
    "callbacks": ("BackupAndRestore", "CSVHistory", "SaveBest", "SetEpoch", "TerminateOnNaN"),
    "loop": ("FitResult", "dtype_policy", "fit"),
}
_getattr, __dir__, _LAZY_NAMES = exports(__name__, _LAZY, globals())


def __getattr__(name: str) -> Any:
    """The TensorFlow-only names, after checking that TensorFlow is there and runs Keras."""
    if name in _LAZY_NAMES:
        require_tensorflow("keras_resnet.training")
    return _getattr(name)

__all__ = ["AUGMENT_CHOICES", "DECAY_FACTOR", "DEFAULT_DECAY_AT", "LR_SCHEDULES", "MIXED_PRECISION", "OPTIMIZERS",
           "RECIPES", "RUN_CONFIG", "TrainConfig", "default_decay_epochs", "read_run_config", "recipe_config",
           *_LAZY_NAMES]
