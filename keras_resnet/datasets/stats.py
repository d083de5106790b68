"""The per-pixel mean subtraction of §3.4/§4.2, inside the model: the mean
image of the training split (:func:`pixel_stats`) in a ``Normalization``
layer (:func:`normalization_layer`), so a saved model takes raw pixels."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from keras_resnet.datasets.info import Source
from keras_resnet.datasets.input_pipeline import pipeline

STATS_EXAMPLES = 50_000  # images averaged for the mean image


def pixel_stats(source: Source, image_size: int, classes: Sequence[int] | None = None,
                examples_per_class: int | None = None, limit: int | None = None) -> tuple[np.ndarray, float]:
    """Per-pixel mean image (§4.2 / §3.4) and overall pixel std of the
    training split at the net's input size (at most :data:`STATS_EXAMPLES`)."""
    limit = min(limit or STATS_EXAMPLES, STATS_EXAMPLES)
    ds, count = pipeline(source, "train", training=False, batch_size=1024, image_size=image_size,
                         classes=classes, examples_per_class=examples_per_class, limit=limit)
    total = np.zeros((image_size, image_size, 3))
    squares = 0.0
    for images, _ in ds.as_numpy_iterator():
        images = images.astype(np.float64)
        total += images.sum(axis=0)
        squares += float(np.square(images).sum())
    mean = total / count
    variance = squares / (count * mean.size) - float(np.square(mean).mean())
    return mean.astype(np.float32), float(np.sqrt(max(variance, 1e-12)))


def normalization_layer(mean: np.ndarray | Sequence[float], std: float | Sequence[float],
                        name: str = "preprocess") -> keras.layers.Normalization:
    """``(x - mean) / std`` as the model's first layer: a per-pixel mean image
    of shape ``(H, W, 3)`` (and a scalar std), or per-channel values."""
    mean = np.asarray(mean, np.float32)
    variance = np.broadcast_to(np.square(np.asarray(std, np.float32)), mean.shape)
    axis = (1, 2, 3) if mean.ndim == 3 else -1
    return keras.layers.Normalization(axis=axis, mean=mean, variance=np.array(variance), name=name)

