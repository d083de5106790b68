"""Train a keras_resnet net with ``model.fit`` under ``tf.distribute``: the paper's recipe.

The default recipe is the paper's (He et al. 2016, CVPR): SGD with momentum
0.9, weight decay 1e-4 on conv and dense kernels (not on BN or biases), He
normal init, global mini-batch 128 and learning rate 0.1 divided by 10 twice
(§4.2: at 32k and 48k of 64k iterations, i.e. at 50 % and 75 % of training;
§3.4 for ImageNet: /10 when the error plateaus), optionally after a warm-up
at 0.01 (§4.2, ResNet-110). A cosine schedule is an option.

:func:`fit` is crash-safe: ``BackupAndRestore`` checkpoints into
``model_dir/backup`` (every epoch or every N steps) and rerunning the same
call resumes from the last checkpoint. Final and best models are written as
``.keras`` files atomically (temporary file + rename), next to a CSV history,
TensorBoard logs, the run's ``config.json`` and the test ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_resnet import datasets, distribute, transfer
from keras_resnet._compat import multi_worker_fit_fix
from keras_resnet.models import get_model
from keras_resnet.specs import SHORTCUTS, SPECS

LR_SCHEDULES = ("step", "cosine")
MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16")
AUGMENT_CHOICES = ("auto", *datasets.AUGMENTATIONS)
DECAY_FACTOR = 0.1  # §3.4 / §4.2: "divided by 10"
DEFAULT_DECAY_AT = (0.5, 0.75)  # §4.2: 32k and 48k of 64k iterations


def _default_model_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "keras_resnet", "run")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; each field is a flag of ``keras_resnet.train``.

    Model: ``model`` (any :func:`keras_resnet.get_model` name), ``plain``
    (the plain twin, §4.1), ``shortcut`` (``"A"``/``"B"``/``"C"``, §3.3; ``None``:
    the family's default), ``width_multiplier`` (CIFAR nets), ``image_size``
    (``None``: 32 for CIFAR nets, 224 for ImageNet nets).

    Data: ``dataset``, ``data_dir`` (see :func:`keras_resnet.datasets.load`),
    ``classes`` (keep only these labels, renumbered 0..k-1),
    ``examples_per_class``, ``train_examples``, ``eval_examples`` (first N),
    ``augment`` (``"auto"``: ``"cifar"`` for CIFAR nets, ``"imagenet"`` else).

    Recipe: ``epochs``, ``global_batch_size``, ``learning_rate``,
    ``momentum``, ``weight_decay``, ``bn_momentum``, ``sync_batch_norm``, ``lr_schedule`` (``"step"`` or
    ``"cosine"``), ``lr_decay_epochs`` (step schedule; ``None``: at 50 % and
    75 % of ``epochs``), ``warmup_steps`` at ``warmup_learning_rate``.

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
    warmup_learning_rate: float = 0.01
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
                              ("strategy", distribute.STRATEGIES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"`{name}` must be one of {allowed}; received {name}={getattr(self, name)!r}")
        for name in ("epochs", "global_batch_size"):
            _check_int(self, name, low=1)
        for name in ("warmup_steps", "fine_tune_epochs", "fine_tune_stages", "logical_cpus", "seed"):
            _check_int(self, name, low=0)
        for name in ("image_size", "examples_per_class", "train_examples", "eval_examples"):
            if getattr(self, name) is not None:
                _check_int(self, name, low=1)
        for name in ("learning_rate", "warmup_learning_rate", "width_multiplier", "bn_momentum"):
            _check_float(self, name, positive=True)
        for name in ("momentum", "weight_decay"):
            _check_float(self, name, positive=False)
        if self.bn_momentum >= 1:
            raise ValueError(f"`bn_momentum` must be in (0, 1); received bn_momentum={self.bn_momentum!r}")
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
        if not self.model or not isinstance(self.model, str):
            raise ValueError(f"`model` must be a model name such as 'resnet20'; received model={self.model!r}")
        if self.fine_tune_epochs and not self.init_weights:
            raise ValueError("`fine_tune_epochs` needs `init_weights` (a .keras model or 'imagenet')")

    @property
    def cifar(self) -> bool:
        """Whether ``model`` is a CIFAR-style net (§4.2), by name."""
        spec = SPECS.get(self.model)
        return spec.stem == "cifar" if spec else self.model.startswith(("resnet", "preact_resnet"))

    @property
    def resolved_augment(self) -> str:
        if self.augment != "auto":
            return self.augment
        return "cifar" if self.cifar else "imagenet"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What :func:`fit` produced.

    Attributes:
        history: Per-epoch logs of the epochs run by this call (after a
            resume, only the remaining ones), across phases.
        test: ``loss``, ``accuracy``, ``top5`` (top-k) and ``cross_entropy``
            (the loss without the weight-decay penalty) of the final model
            on the test split.
        model_dir: Where this worker wrote its outputs.
        final_model: Path of the final ``.keras`` model.
        best_model: Path of the best ``.keras`` model by ``val_accuracy``.
    """

    history: dict[str, list[float]]
    test: dict[str, float]
    model_dir: str
    final_model: str
    best_model: str


# --- atomic outputs --------------------------------------------------------------------------

@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path`` (same suffix); on success it
    replaces ``path`` in one rename, so readers never see a partial file."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """``model.save`` to a ``.keras`` file, atomically."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


# --- recipe ----------------------------------------------------------------------------------

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
    §4.2). ``"cosine"``: linear warm-up from ``warmup_learning_rate``, then
    cosine decay to 0 at ``total_steps``."""
    if kind not in LR_SCHEDULES:
        raise ValueError(f"`lr_schedule` must be one of {LR_SCHEDULES}; received lr_schedule={kind!r}")
    if kind == "cosine":
        if not warmup_steps:
            return keras.optimizers.schedules.CosineDecay(learning_rate, max(1, total_steps))
        return keras.optimizers.schedules.CosineDecay(
            warmup_learning_rate, max(1, total_steps - warmup_steps),
            warmup_target=learning_rate, warmup_steps=warmup_steps)
    decay_steps = sorted({s for s in decay_steps if s > warmup_steps})
    starts = ([warmup_steps] if warmup_steps else []) + decay_steps
    values = ([warmup_learning_rate] if warmup_steps else []) + [
        learning_rate * DECAY_FACTOR ** i for i in range(len(decay_steps) + 1)]
    if not starts:
        return keras.optimizers.schedules.PiecewiseConstantDecay([total_steps], [learning_rate] * 2)
    # PiecewiseConstantDecay keeps the old value while step <= boundary; step s is the (s+1)-th update.
    return keras.optimizers.schedules.PiecewiseConstantDecay([s - 1 for s in starts], values)


def compile_model(model: keras.Model, schedule: Any, momentum: float, num_classes: int,
                  jit_compile: bool) -> None:
    """SGD with momentum (§3.4), cross-entropy, top-1 and top-k (k=min(5, classes)) accuracy.

    The ``loss`` Keras logs includes the weight-decay penalty; the
    ``cross_entropy`` metric is the data loss alone (what the papers plot).
    """
    k = min(5, num_classes)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule, momentum=momentum),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=f"top{k}"),
                 keras.metrics.SparseCategoricalCrossentropy(name="cross_entropy")],
        jit_compile=jit_compile,
    )


def build_model(config: TrainConfig, num_classes: int, mean: np.ndarray, std: float) -> keras.Model:
    """The net ``config`` names, taking raw RGB pixels in [0, 255]: per-pixel
    mean subtraction (``preprocess`` layer), the net, a float32 softmax head."""
    size = config.image_size or (32 if config.cifar else 224)
    inputs = keras.Input((size, size, 3), name="image")
    kwargs: dict[str, Any] = {"plain": config.plain, "shortcut": config.shortcut}
    if config.width_multiplier != 1.0:
        kwargs["width_multiplier"] = config.width_multiplier
    features = get_model(config.model, include_top=False, pooling="avg", input_shape=(size, size, 3),
                         input_tensor=datasets.normalization_layer(mean, std)(inputs), **kwargs)
    return transfer.add_head(features, num_classes)


# --- callbacks -------------------------------------------------------------------------------

class TerminateOnNaN(keras.callbacks.TerminateOnNaN):
    """Stop at the first NaN/Inf loss with an error saying what to try.

    It raises before later callbacks run, so ``BackupAndRestore`` keeps its
    last good checkpoint.
    """

    def __init__(self) -> None:
        super().__init__(raise_error=True)
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        try:
            super().on_batch_end(batch, logs)
        except RuntimeError as err:
            raise FloatingPointError(
                f"Training diverged: the loss is {(logs or {}).get('loss')} at epoch {self._epoch + 1}, "
                f"step {batch + 1}. The last checkpoint is kept. Try a lower --learning_rate, a warm-up "
                "(--warmup_steps; the paper warms ResNet-110 up at 0.01, §4.2) or --mixed_precision=none."
            ) from err


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` with two gaps closed for kill-at-any-moment runs.

    With a step-level ``save_freq`` it also saves at each epoch's end, so a
    finished epoch is never trained again; and a kill while it rewrites its
    metadata (which it truncates, then writes) cannot make the rerun crash:
    the previous checkpoint (kept by ``double_checkpoint``) is used instead.
    """

    def __init__(self, backup_dir: str, save_freq: str | int = "epoch") -> None:
        super().__init__(backup_dir, save_freq=save_freq, double_checkpoint=True)

    def on_train_begin(self, logs: dict | None = None) -> None:
        metadata, weights = Path(self._training_metadata_path), Path(self._weights_path)
        if metadata.exists() and not _valid_json(metadata):
            previous = Path(self._prev_training_metadata_path)
            for path in (metadata, weights):
                path.unlink(missing_ok=True)
            if _valid_json(previous):
                shutil.copyfile(self._prev_weights_path, weights)
                shutil.copyfile(previous, metadata)
        super().on_train_begin(logs)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.save_freq != "epoch":
            self._save_model()


def _valid_json(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


class CSVHistory(keras.callbacks.Callback):
    """The per-epoch logs as a CSV file, rewritten atomically after each epoch.

    Unlike ``keras.callbacks.CSVLogger`` it never holds a half-written row,
    and a resumed run drops the rows of the epochs it trains again, so every
    epoch appears once however the run was interrupted.
    """

    def __init__(self, path: Path, keep_existing: bool) -> None:
        super().__init__()
        self.path = path
        self.keep_existing = keep_existing
        self.rows: list[dict[str, str]] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.keep_existing and self.path.exists():
            with open(self.path, newline="") as f:
                self.rows = list(csv.DictReader(f))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.rows = [row for row in self.rows if int(row["epoch"]) < epoch]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.rows.append({"epoch": str(epoch), **{k: repr(float(v)) for k, v in (logs or {}).items()}})
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(self.rows)


class SetEpoch(keras.callbacks.Callback):
    """Tell the input pipeline which epoch starts (its shuffle and
    augmentation are a function of the seed and the epoch)."""

    def __init__(self, variable: tf.Variable) -> None:
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.variable.assign(epoch)


class SaveBest(keras.callbacks.Callback):
    """Save the model with the best ``val_accuracy`` so far, atomically, with
    a ``.json`` record of its epoch and score (read back when resuming)."""

    def __init__(self, path: Path, best: float = -math.inf) -> None:
        super().__init__()
        self.path = path
        self.best = best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get("val_accuracy")
        if value is not None and value > self.best:
            self.best = float(value)
            save_model(self.model, self.path)
            write_json(self.path.with_suffix(".json"), {"epoch": epoch + 1, "val_accuracy": self.best})


def _progress_verbosity() -> int:
    """Keras progress bars on a terminal, one line per epoch otherwise (CI logs)."""
    return 1 if sys.stdout.isatty() else 2


# --- phases ----------------------------------------------------------------------------------

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


def phases(config: TrainConfig, model: keras.Model) -> list[Phase]:
    """One phase from scratch; transfer learning's two: the new head on a
    frozen backbone, then ``fine_tune_stages`` top stages unfrozen at a lower
    learning rate."""
    if not config.init_weights:
        return [Phase("train", config.epochs, config.learning_rate, "none", config.lr_decay_epochs,
                      config.warmup_steps)]
    first = Phase("head", config.epochs, config.learning_rate, config.freeze, config.lr_decay_epochs,
                  config.warmup_steps)
    if not config.fine_tune_epochs:
        return [first]
    lr = config.fine_tune_learning_rate or config.learning_rate * DECAY_FACTOR
    until = transfer.fine_tune_freeze(model, config.fine_tune_stages)
    return [first, Phase("fine_tune", config.fine_tune_epochs, lr, until, None, 0)]


def _schedule(config: TrainConfig, phase: Phase, steps_per_epoch: int) -> Any:
    decay = phase.decay_epochs or tuple(f * phase.epochs for f in DEFAULT_DECAY_AT)
    return learning_rate_schedule(config.lr_schedule, phase.learning_rate, phase.epochs * steps_per_epoch,
                                  [round(e * steps_per_epoch) for e in decay], phase.warmup_steps,
                                  config.warmup_learning_rate)


# --- fit -------------------------------------------------------------------------------------

@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Keras' global dtype policy set to ``name`` (one of ``MIXED_PRECISION``) inside the block."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32" if name == "none" else name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _initial_model(config: TrainConfig, source: datasets.Source, num_classes: int) -> keras.Model:
    if config.init_weights:
        return transfer.load_init_weights(config.init_weights, config.model, num_classes, config.image_size)
    size = config.image_size or (32 if config.cifar else 224)
    mean, std = datasets.pixel_stats(source, size, config.classes, config.examples_per_class,
                                     config.train_examples)
    return build_model(config, num_classes, mean, std)


def fit(config: TrainConfig | None = None, *, callbacks: Sequence[keras.callbacks.Callback] = (),
        **overrides: Any) -> FitResult:
    """Train as ``config`` (plus keyword ``overrides`` of its fields) says.

    ``callbacks`` are extra Keras callbacks, appended to the run's own (e.g.
    to log per-iteration training error for Fig. 6-style curves).

    Creates the strategy, builds model, optimizer and metrics inside its
    scope, trains with validation on the test split each epoch, saves
    ``final.keras`` / ``best.keras`` and evaluates the final model on the
    test split. Rerunning the same call after a crash resumes from the last
    checkpoint in ``model_dir/backup``. On a multi-worker run, the chief
    writes to ``model_dir`` and every other worker to ``model_dir/<task>``.

    Raises:
        FloatingPointError: The loss became NaN or infinite.
        ValueError: A bad argument (the message names it and what is allowed).
    """
    config = dataclasses.replace(config or TrainConfig(), **overrides)
    if config.logical_cpus:
        distribute.split_cpu(config.logical_cpus)
    strategy = distribute.create_strategy(config.strategy, config.tpu)
    keras.utils.set_random_seed(config.seed)
    with dtype_policy(config.mixed_precision), multi_worker_fit_fix(strategy):
        return _fit(config, strategy, callbacks)


def _fit(config: TrainConfig, strategy: tf.distribute.Strategy,
         extra_callbacks: Sequence[keras.callbacks.Callback]) -> FitResult:
    task = distribute.non_chief_name(strategy)
    out = Path(config.model_dir) / task if task else Path(config.model_dir)
    source = datasets.load(config.dataset, config.data_dir)
    num_classes = len(config.classes) if config.classes else source.info.num_classes
    with strategy.scope():
        model = _initial_model(config, source, num_classes)
        apply_weight_decay(model, config.weight_decay)
        configure_batch_norm(model, config.bn_momentum, config.sync_batch_norm and strategy.num_replicas_in_sync > 1)
    size = model.input_shape[1]
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    train, train_count = datasets.pipeline(
        source, "train", training=True, batch_size=config.global_batch_size, image_size=size,
        augment=config.resolved_augment, seed=config.seed, classes=config.classes,
        examples_per_class=config.examples_per_class, limit=config.train_examples, epoch=epoch)
    test, test_count = datasets.pipeline(source, "test", training=False, batch_size=config.global_batch_size,
                                         image_size=size, classes=config.classes, limit=config.eval_examples)
    run = _Run(config, strategy, out, (out / "backup").is_dir(), num_classes,
               train_count // config.global_batch_size, epoch, tuple(extra_callbacks))
    names = source.info.class_names
    write_json(out / "config.json", {**config.to_dict(), "image_size": size, "num_classes": num_classes,
                                     "class_names": [names[c] for c in config.classes or range(num_classes)],
                                     "train_examples_used": train_count, "steps_per_epoch": run.steps,
                                     "replicas": strategy.num_replicas_in_sync})
    history = run.train(model, train, test)

    final = out / "final.keras"
    save_model(model, final)
    metrics = {k: float(v) for k, v in model.evaluate(test, verbose=0, return_dict=True).items()}
    write_json(out / "metrics.json", {**metrics, "test_examples": test_count})
    shutil.rmtree(run.backup, ignore_errors=True)
    k = min(5, num_classes)
    print(f"test accuracy: {metrics['accuracy']:.4f}  top-{k}: {metrics[f'top{k}']:.4f}  "
          f"cross-entropy: {metrics['cross_entropy']:.4f}  ({test_count} test images; model: {final})", flush=True)
    return FitResult(history, metrics, str(out), str(final), str(out / "best.keras"))


@dataclasses.dataclass(frozen=True)
class _Run:
    """One worker's training run: its phases, callbacks and output folder."""

    config: TrainConfig
    strategy: tf.distribute.Strategy
    out: Path
    resuming: bool  # a backup of an interrupted run exists
    num_classes: int
    steps: int
    epoch: tf.Variable
    extra_callbacks: tuple[keras.callbacks.Callback, ...]

    @property
    def backup(self) -> Path:
        return self.out / "backup"

    def callbacks(self, phase: Phase, first: bool, saver: SaveBest) -> list[keras.callbacks.Callback]:
        """Order matters: the NaN check raises before anything is saved, and
        the backup comes last, once the epoch's outputs are written."""
        return [
            SetEpoch(self.epoch),
            TerminateOnNaN(),
            saver,
            CSVHistory(self.out / "history.csv", keep_existing=self.resuming or not first),
            keras.callbacks.TensorBoard(str(self.out / "logs")),
            *self.extra_callbacks,
            BackupAndRestore(str(self.backup / phase.name), save_freq=self.config.backup_freq),
        ]

    def train(self, model: keras.Model, train: tf.data.Dataset, test: tf.data.Dataset) -> dict[str, list[float]]:
        """Run every phase not finished yet; return the logs of the epochs run."""
        if self.resuming:
            print(f"Resuming from the checkpoint in {self.backup}", flush=True)
        best_json = self.out / "best.json"
        best = json.loads(best_json.read_text())["val_accuracy"] if self.resuming and best_json.exists() else -math.inf
        saver = SaveBest(self.out / "best.keras", best)
        history: dict[str, list[float]] = {}
        epoch = 0
        run_phases = phases(self.config, model)
        for index, phase in enumerate(run_phases):
            done = self.backup / f"{phase.name}.weights.h5"  # a finished phase that is not the last
            if done.exists() and index < len(run_phases) - 1:
                model.load_weights(done)
                epoch += phase.epochs
                continue
            with self.strategy.scope():
                transfer.freeze(model, phase.freeze)
                compile_model(model, _schedule(self.config, phase, self.steps), self.config.momentum,
                              self.num_classes, self.config.jit_compile)
            model._initial_epoch = None  # Keras keeps BackupAndRestore's restored epoch across fit() calls
            logs = model.fit(train, epochs=epoch + phase.epochs, initial_epoch=epoch, validation_data=test,
                             callbacks=self.callbacks(phase, index == 0, saver), shuffle=False,
                             verbose=_progress_verbosity())
            for key, values in logs.history.items():
                history.setdefault(key, []).extend(float(v) for v in values)
            if index < len(run_phases) - 1:
                with atomic_path(done) as tmp:
                    model.save_weights(tmp)
            epoch += phase.epochs
        return history
