"""Load and check the model to export: any Keras 3 image classifier.

A path is loaded with ``keras.saving.load_model(..., safe_mode=True)``, so a
``.keras`` file can never run code it carries (lambdas). Custom layers are
found only in modules the caller names explicitly (``custom_modules``);
nothing is imported because a file mentions it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path

import keras

from export import model_file
from export.errors import ExportError

ModelSource = keras.Model | str | os.PathLike


def import_custom_modules(names: Sequence[str]) -> None:
    """Import the modules that register the model's custom layers."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ExportError("custom_modules", f"cannot import {name!r}: {exc}") from exc


def _load_file(path: Path) -> keras.Model:
    model_file.check_registered(path, lambda name: keras.saving.get_registered_object(name) is not None)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
        hint = ""
        if "Could not locate" in str(exc):
            hint = " (if it uses custom layers, name the modules that register them in `custom_modules`)"
        raise ExportError("model", f"cannot load {path}: {exc}{hint}") from exc


def image_shape(model: keras.Model) -> tuple[int, int, int]:
    """``(height, width, channels)`` of the model's image input."""
    return tuple(model.inputs[0].shape[1:])


def num_classes(model: keras.Model) -> int:
    """Length of the model's class-probability output."""
    return int(model.outputs[0].shape[-1])


def load_model(model: ModelSource) -> keras.Model:
    """Return a Keras 3 image classifier: one ``(batch, H, W, C)`` input, one ``(batch, classes)`` output.

    ``model`` is a ``keras.Model`` or the path of a ``.keras`` file.
    """
    if isinstance(model, (str, os.PathLike)):
        model = _load_file(Path(model))
    if not isinstance(model, keras.Model):
        raise ExportError("model", f"expected a Keras 3 model or a `.keras` path; received {type(model).__name__}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except AttributeError:
        inputs = outputs = None
    if not inputs or not outputs:
        raise ExportError("model", "the model is not built: call it on data or give it an Input first")
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or len(outputs) != 1 or len(outputs[0].shape) != 2:
        raise ExportError(
            "model",
            "expected an image classifier with one (batch, height, width, channels) input and one "
            f"(batch, classes) output; received inputs {[tuple(t.shape) for t in inputs]}, "
            f"outputs {[tuple(t.shape) for t in outputs]}",
        )
    if None in image_shape(model) or outputs[0].shape[-1] is None:
        raise ExportError("model", f"the input size {image_shape(model)} and the number of classes must be fixed")
    return model
