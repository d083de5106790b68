"""Offline ImageNet-1k class names, ``preprocess_input`` and ``decode_predictions``.

Class names ship with the package (``data/imagenet_classes.tsv``), so nothing is
downloaded. Results match ``keras.applications``' ImageNet utilities.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import keras
import numpy as np

from keras_resnet.transform import Transform

NUM_CLASSES = 1000

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # keras.applications' "caffe" mode: ImageNet mean, BGR
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)
_MODES = ("caffe", "tf", "torch")


@functools.cache
def _classes() -> tuple[tuple[str, str], ...]:
    """Read ``(wnid, name)`` pairs from the shipped class file, in class index order."""
    path = (
        resources.files("keras_resnet")
        .joinpath("data")
        .joinpath("imagenet_classes.tsv")
    )
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple((wnid, name) for wnid, name in (line.split("\t") for line in lines))


def wnids() -> list[str]:
    """Return the 1000 ImageNet WordNet ids (e.g. ``"n01440764"``) in index order."""
    return [wnid for wnid, _ in _classes()]


def class_names() -> list[str]:
    """Return the 1000 ImageNet class names (e.g. ``"tench"``) in class index order."""
    return [name for _, name in _classes()]


def _transform(mode: Any) -> Transform | None:
    """The :class:`Transform` ``mode`` names (itself, or published weights' full name), else ``None``."""
    if isinstance(mode, Transform):
        return mode
    if isinstance(mode, str) and ":" in mode:
        from keras_resnet.weights import transform_for

        return transform_for(mode)
    return None


def preprocess_input(x: Any, mode: str | Transform = "caffe", data_format: str | None = None) -> Any:
    """Preprocess RGB images in [0, 255] as keras.applications does, or as published weights need.

    ``mode``: ``"caffe"`` (RGB->BGR, subtract the ImageNet mean; ResNet v1),
    ``"tf"`` (scale to [-1, 1]; ResNetV2), ``"torch"`` (scale to [0, 1], then
    normalize with the ImageNet mean and std), or the normalisation of a
    :class:`~keras_resnet.transform.Transform` (``model.transform`` of a net
    built with named weights) or of a catalogue name
    (``"timm:resnet50.a1_in1k"``; ``python -m keras_resnet.weights`` lists
    them). Images are taken as they are: resize and crop them first
    (``Transform.resize_crop``). ``data_format``: where the
    channels are, ``"channels_last"`` or ``"channels_first"`` (axis 0 of one
    image, axis 1 of a batch); ``None`` reads ``keras.config.image_data_format()``.
    Returns a new NumPy array for NumPy input (the input is not modified), a
    backend tensor otherwise. Non-float input is cast to ``keras.config.floatx()``.
    """
    transform = _transform(mode)
    if transform is None and mode not in _MODES:
        raise ValueError(f"`mode` must be one of {_MODES}, a Transform or a published weights name, got {mode!r}")
    data_format = data_format or keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"`data_format` must be 'channels_last' or 'channels_first', got {data_format!r}")
    if isinstance(x, np.ndarray):
        dtype = (
            x.dtype
            if np.issubdtype(x.dtype, np.floating)
            else np.dtype(keras.config.floatx())
        )
        x = x.astype(dtype)
    else:
        x = keras.ops.convert_to_tensor(x)
        if not keras.backend.is_float_dtype(x.dtype):
            x = keras.ops.cast(x, keras.config.floatx())
        dtype = keras.backend.standardize_dtype(x.dtype)
    axis = -1 if data_format == "channels_last" else (0 if len(x.shape) == 3 else 1)

    def per_channel(values: tuple[float, ...]) -> np.ndarray:
        after = 0 if axis == -1 else len(x.shape) - axis - 1  # axes after the channels'
        return np.array(values, dtype).reshape((3, *[1] * after))

    if transform is not None:
        x = (x - per_channel(transform.mean)) / per_channel(transform.std)
        if transform.channel_order == "rgb":
            return x
        return np.flip(x, axis) if isinstance(x, np.ndarray) else keras.ops.flip(x, axis=axis)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        return (x / 255.0 - per_channel(_TORCH_MEAN)) / per_channel(_TORCH_STD)
    bgr = np.flip(x, axis) if isinstance(x, np.ndarray) else keras.ops.flip(x, axis=axis)
    return bgr - per_channel(CAFFE_MEAN_BGR)


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Return the ``top`` ``(wnid, name, score)`` per row of ``preds``, best first.

    ``preds``: array or tensor of shape ``(N, 1000)``, e.g. a classifier's output.
    """
    preds = keras.ops.convert_to_numpy(preds)
    if preds.ndim != 2 or preds.shape[1] != NUM_CLASSES:
        raise ValueError(
            f"`preds` must have shape (N, {NUM_CLASSES}), got shape {preds.shape}"
        )
    if (
        isinstance(top, bool)
        or not isinstance(top, (int, np.integer))
        or not 1 <= top <= NUM_CLASSES
    ):
        raise ValueError(f"`top` must be an integer in 1..{NUM_CLASSES}, got {top!r}")
    classes = _classes()
    results = []
    for row in preds:
        best = np.argsort(-row, kind="stable")[:top]
        results.append([(*classes[i], float(row[i])) for i in best])
    return results
