"""The callbacks of a training run: stop on NaN with advice, crash-safe
backups, an atomic CSV history, the epoch for the input pipeline, the best model.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
from pathlib import Path

import keras
import tensorflow as tf

from keras_resnet.io import atomic_path, save_model, write_json


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


def progress_verbosity() -> int:
    """Keras progress bars on a terminal, one line per epoch otherwise (CI logs)."""
    return 1 if sys.stdout.isatty() else 2
