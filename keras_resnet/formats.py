"""Keras' global settings for one block of code: the image data format and the dtype policy.

Keras' builders (keras.applications' and keras_resnet's) read the global
``keras.config.image_data_format()`` and ``keras.config.dtype_policy()``;
:func:`image_data_format` and :func:`dtype_policy` set one for a ``with``
block and restore the previous value, even when the block raises. Both work on
every Keras backend.
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


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Keras' global dtype policy is ``name`` (``"none"``: float32) inside the block."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32" if name == "none" else name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
