"""The one preprocessing of images for evaluation and serving: decode, channels, size.

Training's evaluation pipeline (:func:`keras_resnet.datasets.pipeline`), the
export's SavedModel ``image_bytes`` signature and its LiteRT check all call
these functions, so a served image is prepared exactly as a test image was.

The size rule (:func:`fit`): scale the image so that its shorter side is
``short_side`` pixels (keeping the aspect ratio; shrinking averages the
pixels each output pixel covers, ``tf.image.resize``'s ``area``, enlarging
is bilinear), then centre-crop or zero-pad it to the net's ``size`` x ``size``. Which
``short_side`` (:func:`eval_short_side`):

* images at most :data:`MAX_PAD` pixels smaller than the net keep their own
  scale: Fashion-MNIST's 28x28 is zero-padded to 32x32 (``short_side`` 28),
  as CIFAR-style nets are trained (He et al. 2016, §4.2);
* any other image has its shorter side resized to ``size / 0.875`` (256 for
  224) and is centre-cropped (§3.4's evaluation, 10-crop reduced to the centre).

A server sees images of any size, so it applies one ``short_side`` to all of
them: the one the training data had (:func:`eval_short_side` of the
dataset's image size). A garment sent at 28, 56 or 280 pixels then reaches
the net at the same scale.
"""

from __future__ import annotations

import math

import tensorflow as tf

from keras_resnet import exif

CROP_FRACTION = 0.875  # 224 / 256: ImageNet-style evaluation crop
MAX_PAD = 8            # images at most this much smaller than the net are padded, not resized


def crop_short_side(size: int) -> int:
    """Shorter side before the centre crop of ``size`` (256 for 224)."""
    return math.ceil(size / CROP_FRACTION)


def eval_short_side(height: tf.Tensor | int, width: tf.Tensor | int, size: int) -> tf.Tensor:
    """Training's evaluation rule: the shorter side an image of ``height`` x ``width`` is scaled to."""
    height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
    small = (height <= size) & (width <= size) & (tf.minimum(height, width) >= size - MAX_PAD)
    return tf.where(small, tf.minimum(height, width), crop_short_side(size))


def serving_short_side(native_shape: tuple[int | None, ...], size: int) -> int:
    """The one ``short_side`` for served images of any size: training's rule on the dataset's native size.

    Datasets of varying image sizes (``None`` sides) were centre-cropped.
    """
    height, width = native_shape[:2]
    if height is None or width is None:
        return crop_short_side(size)
    return int(eval_short_side(height, width, size))


def decode(encoded: tf.Tensor, channels: int) -> tf.Tensor:
    """One encoded JPEG/PNG/GIF/BMP/WebP image (scalar string) -> uint8 ``(H, W, channels)``, upright.

    Grey images become RGB by repetition and colour ones grey by luminance,
    as :func:`to_rgb` and ``tf.io.decode_image`` do; 16-bit images are scaled
    to 8 bits; only an animation's first frame is read. A JPEG is turned as
    its EXIF orientation says (:mod:`keras_resnet.exif`), as a photo viewer shows it.
    """
    image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
    image.set_shape([None, None, channels])
    # The turn loses the static channel count, which fixed-size crops (the CIFAR augmentation's) need.
    return tf.ensure_shape(exif.orient(image, exif.jpeg_orientation(encoded)), [None, None, channels])


def to_rgb(image: tf.Tensor) -> tf.Tensor:
    """Grayscale (1 channel) to RGB by repetition; 3-channel images pass."""
    return tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image


def fit(image: tf.Tensor, size: int | tuple[int, int], short_side: tf.Tensor | int) -> tf.Tensor:
    """Scale ``image`` (H, W, C) so its shorter side is ``short_side``, then centre-crop or pad to ``size``.

    ``size`` is the net's side, or its ``(height, width)``. No resampling
    happens when the shorter side already is ``short_side``. Returns float32
    ``(height, width, C)`` in the input's value range.
    """
    height, width = (size, size) if isinstance(size, int) else size
    shape = tf.shape(image)
    sides = tf.cast(shape[:2], tf.int64)
    shorter = tf.minimum(sides[0], sides[1])
    target = tf.cast(short_side, tf.int64)
    new = tf.cast((sides * target + shorter - 1) // shorter, tf.int32)  # ceil, in integers: 280 -> 28 exactly
    image = tf.case([
        (tf.equal(shorter, target), lambda: tf.cast(image, tf.float32)),
        (shorter > target, lambda: tf.image.resize(image, new, method="area")),
    ], default=lambda: tf.image.resize(image, new, method="bilinear"))
    out = tf.image.resize_with_crop_or_pad(image, height, width)
    return tf.ensure_shape(out, (height, width, image.shape[-1]))


def fit_to_size(image: tf.Tensor, size: int) -> tf.Tensor:
    """Training's deterministic evaluation transform: :func:`fit` with :func:`eval_short_side`."""
    shape = tf.shape(image)
    return fit(image, size, eval_short_side(shape[0], shape[1], size))
