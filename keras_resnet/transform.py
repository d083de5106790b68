"""The evaluation transform that belongs to a set of pretrained weights.

Every publisher evaluates its weights with one transform, and a net fed
another one loses accuracy (the most common "low accuracy" report on
torchvision, timm and keras.applications alike). A :class:`Transform` holds
it as data:

1. scale the image so its shorter side is ``resize`` pixels (aspect ratio
   kept; the longer side is ``int(resize * long / short)``), with
   ``interpolation`` and antialiasing, as torchvision's ``Resize`` and
   timm's ``transforms_imagenet_eval`` (``resize = floor(size / crop_pct)``) do;
2. centre-crop ``size`` x ``size`` (offsets rounded as torchvision's
   ``center_crop``);
3. normalise: ``(pixels - mean) / std`` per channel on RGB values in
   [0, 255], then reverse the channels when ``channel_order="bgr"``
   (keras.applications' "caffe" mode, the Caffe models' BGR input).

Standard library and numpy only at import; TensorFlow is imported by
:meth:`Transform.resize_crop` alone.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

INTERPOLATIONS = ("bilinear", "bicubic")
CHANNEL_ORDERS = ("rgb", "bgr")


@dataclasses.dataclass(frozen=True)
class Transform:
    """Resize, centre crop and normalisation of one set of weights (see the module docstring).

    Attributes:
        size: Side of the centre crop, the net's input side.
        resize: Shorter side the image is scaled to before the crop.
        interpolation: ``"bilinear"`` or ``"bicubic"`` (antialiased when shrinking).
        mean: Per-channel mean, RGB order, on [0, 255] pixels.
        std: Per-channel standard deviation, RGB order, on [0, 255] pixels.
        channel_order: ``"rgb"``, or ``"bgr"`` when the net reads BGR.
    """

    size: int
    resize: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channel_order: str = "rgb"

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"`interpolation` must be one of {INTERPOLATIONS}; received {self.interpolation!r}")
        if self.channel_order not in CHANNEL_ORDERS:
            raise ValueError(f"`channel_order` must be one of {CHANNEL_ORDERS}; received {self.channel_order!r}")
        if not 0 < self.size <= self.resize:
            raise ValueError(f"a transform crops `size` <= `resize` > 0; received size={self.size}, "
                             f"resize={self.resize}")

    @classmethod
    def from_crop_pct(cls, size: int, crop_pct: float, interpolation: str, mean: tuple[float, float, float],
                      std: tuple[float, float, float]) -> Transform:
        """timm's form: the shorter side is ``floor(size / crop_pct)`` (``transforms_imagenet_eval``)."""
        return cls(size, math.floor(size / crop_pct), interpolation, mean, std)

    @property
    def crop_pct(self) -> float:
        """Crop side / resized shorter side (0.875 for 224 of 256)."""
        return self.size / self.resize

    def short_side(self, size: int) -> int:
        """The shorter side before a centre crop of ``size`` at this transform's ratio (``resize`` at ``self.size``)."""
        return self.resize if size == self.size else math.floor(size / self.crop_pct)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict; :meth:`from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> Transform:
        """Rebuild a transform from :meth:`to_dict` output."""
        config = dict(config)
        config["mean"], config["std"] = tuple(config["mean"]), tuple(config["std"])
        return cls(**config)

    def describe(self) -> str:
        """One line, e.g. ``"resize 232 bilinear, crop 224, mean (0.485, ...) std (...) on [0, 1] RGB"``."""
        if self.std == (1.0, 1.0, 1.0):  # caffe style: mean subtraction on [0, 255]
            norm = f"minus RGB mean ({', '.join(f'{m:g}' for m in self.mean)}) on [0, 255]"
        else:
            mean, std = (", ".join(f"{v / 255:.4g}" for v in values) for values in (self.mean, self.std))
            norm = f"mean ({mean}) std ({std}) on [0, 1]"
        return f"resize {self.resize} {self.interpolation}, crop {self.size}, {norm}, fed {self.channel_order.upper()}"

    def normalize(self, pixels: Any) -> Any:
        """RGB pixels in [0, 255] (channels last) -> the net's input; numpy in, numpy out, else keras ops."""
        mean, std = np.asarray(self.mean, np.float32), np.asarray(self.std, np.float32)
        if isinstance(pixels, np.ndarray):
            x = (pixels.astype(np.float32) - mean) / std
            return x[..., ::-1] if self.channel_order == "bgr" else x
        import keras

        x = (keras.ops.cast(pixels, "float32") - mean) / std
        return keras.ops.flip(x, axis=-1) if self.channel_order == "bgr" else x

    def resize_crop(self, image: Any, size: int | None = None) -> Any:
        """Steps 1-2 on one uint8/float image (H, W, C) in TensorFlow; float32 ``(size, size, C)`` out.

        ``size`` (default ``self.size``) crops at another side with the same ratio (:meth:`short_side`).
        """
        import tensorflow as tf

        size = size or self.size
        short = self.short_side(size)
        shape = tf.shape(image)
        height, width = shape[0], shape[1]
        shorter, longer = tf.minimum(height, width), tf.maximum(height, width)
        new_long = tf.cast(tf.cast(short, tf.int64) * tf.cast(longer, tf.int64) // tf.cast(shorter, tf.int64),
                           tf.int32)
        new = tf.where(height <= width, tf.stack([short, new_long]), tf.stack([new_long, short]))
        resized = tf.image.resize(image, new, method=self.interpolation, antialias=True)
        if self.interpolation == "bicubic":  # cubic overshoots; PIL clips to the pixel range
            resized = tf.clip_by_value(resized, 0.0, 255.0)
        top = tf.cast(tf.round(tf.cast(new[0] - size, tf.float32) / 2), tf.int32)
        left = tf.cast(tf.round(tf.cast(new[1] - size, tf.float32) / 2), tf.int32)
        out = resized[top:top + size, left:left + size]
        return tf.ensure_shape(out, (size, size, image.shape[-1]))

    def __call__(self, image: Any) -> Any:
        """Resize, crop and normalise one image (TensorFlow)."""
        return self.normalize(self.resize_crop(image))
