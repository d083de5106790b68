"""Small nets, Fashion-MNIST arrays and CLI plumbing shared by the export tests."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
from absl import flags

from export import ExportData, ExportOptions, cli, export_model, options
from keras_resnet import datasets, get_model

SIZE = 32
CLASSES = 10
PYTHON = sys.executable
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def fashion_mnist(split: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` images of a split as keras_resnet's pipeline feeds a model (RGB, [0, 255], 32x32)."""
    return datasets.load_arrays("fashion_mnist", split, limit=limit, image_size=SIZE)


def small_net(name: str = "resnet8", train_images: int = 0, **kwargs: Any) -> keras.Model:
    """A narrow CIFAR net taking raw pixels, laid out like keras_resnet.training's models
    (a Normalization layer feeding the net), optionally trained one epoch on ``train_images`` images."""
    x, y = fashion_mnist("train", max(train_images, 256))
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    model = get_model(name, input_shape=(SIZE, SIZE, 3), classes=CLASSES, width_multiplier=0.5,
                      input_tensor=datasets.normalization_layer(x.mean(axis=0), float(x.std()))(inputs), **kwargs)
    if train_images:
        model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
        model.fit(x[:train_images], y[:train_images], batch_size=64, epochs=1, verbose=0)
    return model


DATA_FIELDS = ("dataset", "eval_data", "calibration_data", "labels")


def run_export(model: Any, output_dir: Any, **fields: Any) -> dict[str, Any]:
    """:func:`export.export_model` with options and data given by their flag names (``qat_epochs=1``)."""
    data = ExportData(**{name: fields.pop(name) for name in DATA_FIELDS if name in fields})
    changes = {name: tuple(value) if isinstance(value, list) else value for name, value in fields.items()}
    return export_model(model, output_dir, options=options.replace(ExportOptions(), **changes), data=data)


def write_npz(path: Path, x: np.ndarray, y: np.ndarray | None = None) -> Path:
    """Save ``x`` (and ``y``) as a .npz the export reads."""
    np.savez(path, **({"x": x} if y is None else {"x": x, "y": y}))
    return path


def run_cli(*args: str) -> int:
    """Run ``python -m export`` in this process on fresh flags; returns the exit status."""
    fv = flags.FlagValues()
    cli.define_flags(fv)
    fv(["export", *args])
    return cli.main(["export"], fv)


def run_process(*command: str) -> subprocess.CompletedProcess:
    """Run ``command`` in a fresh process from the repository root, capturing text output."""
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
