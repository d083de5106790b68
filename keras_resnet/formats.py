"""Image data formats: build nets channels-first or channels-last for one block of code.

Keras' builders (keras.applications' and keras_resnet's) read the global
``keras.config.image_data_format()``; :func:`image_data_format` sets it for a
``with`` block and restores the previous value, even when the block raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

DATA_FORMATS = ("channels_last", "channels_first")


@contextlib.contextmanager
def image_data_format(data_format: str) -> Iterator[None]:
    """Keras' image data format is ``data_format`` (one of ``DATA_FORMATS``) inside the block."""
    if data_format not in DATA_FORMATS:
        raise ValueError(f"`data_format` must be one of {DATA_FORMATS}, got {data_format!r}")
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format(data_format)
    try:
        yield
    finally:
        keras.config.set_image_data_format(previous)
