"""Train a keras_resnet net with ``model.fit`` under ``tf.distribute``: :func:`fit`.

:func:`fit` is crash-safe: ``BackupAndRestore`` checkpoints into
``model_dir/backup`` (every epoch or every N steps) and rerunning the same
call resumes from the last checkpoint. Final and best models are written as
``.keras`` files atomically (temporary file + rename), next to a CSV history,
TensorBoard logs, the run's ``config.json`` (with the net's spec and, when
fine-tuning pretrained weights, their evaluation ``transform``, which the
test split is evaluated with and the export reads) and the test
``metrics.json`` (with per-class precision, recall, F1 and the confusion
matrix, :mod:`keras_resnet.class_report`). The run ends with that report and
one line per result file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from keras_resnet import cpu, datasets, distribute, transfer
from keras_resnet._compat import multi_worker_fit_fix
from keras_resnet.class_report import class_report, format_report, predict
from keras_resnet.formats import dtype_policy
from keras_resnet.io import atomic_path, save_model, write_json
from keras_resnet.training.augment import one_hot, training_batches
from keras_resnet.training.callbacks import (
    BackupAndRestore,
    CSVHistory,
    SaveBest,
    SetEpoch,
    TerminateOnNaN,
    progress_verbosity,
)
from keras_resnet.training.config import RUN_CONFIG, TrainConfig, recipe_config
from keras_resnet.training.recipe import (
    Phase,
    apply_weight_decay,
    build_model,
    compile_model,
    configure_batch_norm,
    l2_weight_decay,
    make_optimizer,
    phase_schedule,
    phases,
)


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What :func:`fit` produced.

    Attributes:
        history: Per-epoch logs of the epochs run by this call (after a
            resume, only the remaining ones), across phases.
        test: ``loss``, ``accuracy``, ``top5`` (top-k) and ``cross_entropy``
            (the loss without the weight-decay penalty and label smoothing)
            of the final model (with ``ema``: the averaged weights) on the
            test split.
        model_dir: Where this worker wrote its outputs.
        final_model: Path of the final ``.keras`` model.
        best_model: Path of the best ``.keras`` model by ``val_accuracy``.
    """

    history: dict[str, list[float]]
    test: dict[str, float]
    model_dir: str
    final_model: str
    best_model: str



def _initial_model(config: TrainConfig, source: datasets.Source, num_classes: int) -> keras.Model:
    if config.init_weights:
        return transfer.load_init_weights(config.init_weights, config.model, num_classes, config.image_size)
    size = config.input_size
    mean, std = datasets.pixel_stats(source, size, config.classes, config.examples_per_class,
                                     config.train_examples)
    return build_model(config, num_classes, mean, std)


def fit(config: TrainConfig | None = None, *, callbacks: Sequence[keras.callbacks.Callback] = (),
        **overrides: Any) -> FitResult:
    """Train as ``config`` (plus keyword ``overrides`` of its fields) says;
    without ``config``, the overrides apply on top of their ``recipe``'s preset
    (:func:`~keras_resnet.training.recipe_config`; default ``"paper"``).

    ``callbacks`` are extra Keras callbacks, appended to the run's own (e.g.
    to log per-iteration training error for Fig. 6-style curves).

    Creates the strategy, builds model, optimizer and metrics inside its
    scope, trains with validation on the validation split (an image
    folder's; else the test split) each epoch, saves
    ``final.keras`` / ``best.keras`` and evaluates the final model on the
    test split. Rerunning the same call after a crash resumes from the last
    checkpoint in ``model_dir/backup``. On a multi-worker run, the chief
    writes to ``model_dir`` and every other worker to ``model_dir/<task>``.

    Raises:
        FloatingPointError: The loss became NaN or infinite.
        ValueError: A bad argument (the message names it and what is allowed).
    """
    if config is None:
        config = recipe_config(**overrides)
    elif "recipe" in overrides:
        raise ValueError("`recipe` sets a config's defaults: pass it without `config` (fit(recipe=..., ...)) or "
                         "build the config with recipe_config")
    else:
        config = dataclasses.replace(config, **overrides)
    if not cpu.onednn_enabled():
        print(cpu.ONEDNN_HINT.format(cpu=cpu.cpu_model()), flush=True)
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
    # The validation split's draw does not follow --seed: runs of several seeds (and evaluate) hold out the same images.
    source = datasets.load(config.dataset, config.data_dir, validation_split=config.validation_split)
    source = datasets.drop_undecodable(source, config.bad_images, out)  # before any image is decoded
    if source.files is not None:
        print(datasets.class_counts_table(source), flush=True)
    num_classes = len(config.classes) if config.classes else source.info.num_classes
    with strategy.scope():
        model = _initial_model(config, source, num_classes)
        apply_weight_decay(model, l2_weight_decay(config))
        configure_batch_norm(model, config.bn_momentum,
                             synchronized=config.sync_batch_norm and strategy.num_replicas_in_sync > 1)
    size = model.input_shape[1]
    transform = getattr(model, "transform", None)  # pretrained weights' evaluation transform, if any
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    train, train_count = datasets.pipeline(
        source, "train", training=True, batch_size=config.global_batch_size, image_size=size,
        augment=config.resolved_augment, seed=config.seed, classes=config.classes,
        examples_per_class=config.examples_per_class, limit=config.train_examples, epoch=epoch)
    test, test_count = datasets.pipeline(source, "test", training=False, batch_size=config.global_batch_size,
                                         image_size=size, classes=config.classes, limit=config.eval_examples,
                                         resize_crop=transform.resize_crop if transform else None)
    validation = test
    if "validation" in source.info.num_examples:  # an image folder's held-out split; its test split is for the end
        validation, _ = datasets.pipeline(source, "validation", training=False, batch_size=config.global_batch_size,
                                          image_size=size, classes=config.classes, limit=config.eval_examples,
                                          resize_crop=transform.resize_crop if transform else None)
    class_weight = None
    if config.class_weight == "balanced":
        class_weight = datasets.balanced_class_weight(datasets.class_counts(
            source, "train", config.classes, config.examples_per_class, config.train_examples))
    run = _Run(config, strategy, out, resuming=(out / "backup").is_dir(), num_classes=num_classes,
               steps=train_count // config.global_batch_size, epoch=epoch, extra_callbacks=tuple(extra_callbacks),
               class_weight=class_weight)
    train = training_batches(train, config, num_classes)
    scored = (lambda ds: one_hot(ds, num_classes)) if config.soft_labels else (lambda ds: ds)  # labels the loss takes
    names = source.info.class_names
    class_names = [names[c] for c in config.classes or range(num_classes)]
    write_json(out / RUN_CONFIG, {**config.to_dict(), "image_size": size, "spec": config.spec.to_dict(),
                                  "num_classes": num_classes, "class_names": class_names,
                                  "train_examples_used": train_count, "steps_per_epoch": run.steps,
                                  "replicas": strategy.num_replicas_in_sync, "machine": cpu.describe(),
                                  "transform": transform.to_dict() if transform else None})
    history = run.train(model, train, scored(validation))  # with ema, fit ends with the averaged weights in the model

    final = out / "final.keras"
    save_model(model, final)
    metrics = {k: float(v) for k, v in model.evaluate(scored(test), verbose=0, return_dict=True).items()}
    probs, labels = predict(model, test)
    report = class_report(labels, probs.argmax(axis=1), class_names)
    write_json(out / "metrics.json", {**metrics, "test_examples": test_count, **report,
                                      "machine": cpu.describe()})
    shutil.rmtree(run.backup, ignore_errors=True)
    k = min(5, num_classes)
    print(f"test accuracy: {metrics['accuracy']:.4f}  top-{k}: {metrics[f'top{k}']:.4f}  "
          f"cross-entropy: {metrics['cross_entropy']:.4f}  ({test_count} test images)", flush=True)
    print(format_report(report))
    print("\n".join(_written(config, out, metrics)), flush=True)
    return FitResult(history, metrics, str(out), str(final), str(out / "best.keras"))


def _written(config: TrainConfig, out: Path, metrics: dict[str, float]) -> list[str]:
    """One line per result file of the run: what it holds, then its path."""
    lines = [f"final model{' (EMA weights)' if config.ema else ''}: {out / 'final.keras'}"]
    if (out / "best.json").exists():
        best = json.loads((out / "best.json").read_text())
        lines.append(f"best model (epoch {best['epoch']}, val_accuracy {best['val_accuracy']:.4f}): "
                     f"{out / 'best.keras'}")
    return [*lines, f"test metrics and per-class report (accuracy {metrics['accuracy']:.4f}): {out / 'metrics.json'}",
            f"per-epoch history: {out / 'history.csv'}", f"run configuration: {out / RUN_CONFIG}",
            f"TensorBoard logs: {out / 'logs'}"]


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
    class_weight: dict[int, float] | None = None  # Keras' class_weight for the training loss

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

    def train(self, model: keras.Model, train: tf.data.Dataset, validation: tf.data.Dataset
              ) -> dict[str, list[float]]:
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
                optimizer = make_optimizer(self.config, phase_schedule(self.config, phase, self.steps), model)
                compile_model(model, None, self.config.momentum, self.num_classes, jit_compile=self.config.jit_compile,
                              optimizer=optimizer, soft_labels=self.config.soft_labels,
                              label_smoothing=self.config.label_smoothing)
            model._initial_epoch = None  # Keras keeps BackupAndRestore's restored epoch across fit() calls
            logs = model.fit(train, epochs=epoch + phase.epochs, initial_epoch=epoch, validation_data=validation,
                             callbacks=self.callbacks(phase, first=index == 0, saver=saver), shuffle=False,
                             class_weight=self.class_weight, verbose=progress_verbosity())
            for key, values in logs.history.items():
                history.setdefault(key, []).extend(float(v) for v in values)
            if index < len(run_phases) - 1:
                with atomic_path(done) as tmp:
                    model.save_weights(tmp)
            epoch += phase.epochs
        return history
