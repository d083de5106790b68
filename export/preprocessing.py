"""How the ``image_bytes`` signature turns an encoded image into the model's input.

Export knows nothing about how a model was trained, so the preprocessing is
an explicit parameter. For one encoded JPEG/PNG/GIF/BMP image:

1. decode to uint8 with the model's channels (colour images are converted to
   grey and back as ``tf.io.decode_image`` does);
2. bring it to the model's height x width: ``resize="pad"`` centre-pads with
   zeros (or centre-crops) without scaling, the other methods are
   ``tf.image.resize``'s (no antialiasing); nothing happens if the size
   already matches;
3. ``x = (pixels * pixel_scale - pixel_mean) / pixel_std`` per channel, in float32.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from export.errors import ExportError

RESIZE_METHODS = ("pad", "bilinear", "nearest", "bicubic", "area")


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Decode, resize and normalise encoded images (see the module docstring).

    The size and channels are the model's; ``pixel_mean`` and ``pixel_std`` have one
    value or one per channel. The defaults feed raw pixel values (0-255 as
    float32), as keras.applications and keras_resnet models expect.
    """

    resize: str = "bilinear"
    pixel_scale: float = 1.0
    pixel_mean: tuple[float, ...] = (0.0,)
    pixel_std: tuple[float, ...] = (1.0,)

    def check(self, channels: int) -> None:
        """Raise :class:`ExportError` unless this fits a model input with ``channels`` channels."""
        if self.resize not in RESIZE_METHODS:
            raise ExportError("resize", f"must be one of {RESIZE_METHODS}; received {self.resize!r}")
        if channels not in (1, 3):
            raise ExportError("model", f"encoded images decode to 1 or 3 channels; the model takes {channels}")
        for name in ("pixel_mean", "pixel_std"):
            values = tuple(getattr(self, name))
            if len(values) not in (1, channels):
                raise ExportError(name, f"needs 1 or {channels} values (the model's channels); received {values}")
        for name in ("pixel_scale", "pixel_std"):
            if np.min(getattr(self, name)) <= 0:
                raise ExportError(name, f"must be positive; received {getattr(self, name)}")

    def decode(self, encoded: tf.Tensor, shape: tuple[int, int, int]) -> tf.Tensor:
        """One encoded image (a scalar string tensor) -> float32 model input of ``shape`` (H, W, C)."""
        height, width, channels = shape
        image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        image.set_shape([None, None, channels])
        if self.resize == "pad":
            image = tf.image.resize_with_crop_or_pad(image, height, width)
        else:
            image = tf.cond(
                tf.reduce_all(tf.shape(image)[:2] == [height, width]),
                lambda: tf.cast(image, tf.float32),
                lambda: tf.image.resize(image, [height, width], method=self.resize),
            )
        image = tf.cast(image, tf.float32) * self.pixel_scale
        image = (image - tf.constant(self.pixel_mean, tf.float32)) / tf.constant(self.pixel_std, tf.float32)
        return tf.ensure_shape(image, shape)
