"""Per-image transforms of the input pipeline, all in ``tf.data`` with stateless ops.

* evaluation: :func:`to_rgb` then :func:`fit_to_size` (28x28 is zero-padded
  to 32x32; larger images are resized and center-cropped);
* ``"cifar"`` augmentation (paper §4.2): 4-pixel zero padding, random crop,
  horizontal flip;
* ``"imagenet"`` augmentation (paper §3.4): random-resized crop (scale
  8-100 %, aspect 3/4-4/3; the common stand-in for the paper's shorter side
  in [256, 480]) and flip.
"""

from __future__ import annotations

import tensorflow as tf

CROP_FRACTION = 0.875  # 224 / 256: ImageNet-style evaluation crop
MAX_PAD = 8            # images at most this much smaller than the net are padded, not resized
CIFAR_PAD = 4          # §4.2: "4 pixels are padded on each side"


def to_rgb(image: tf.Tensor) -> tf.Tensor:
    """Grayscale (1 channel) to RGB by repetition; 3-channel images pass."""
    return tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image


def fit_to_size(image: tf.Tensor, size: int) -> tf.Tensor:
    """Deterministic resize for evaluation: zero-pad images at most
    :data:`MAX_PAD` pixels smaller than ``size`` (28 -> 32), otherwise resize the
    shorter side to ``size / 0.875`` and take the center ``size`` crop."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    small = (height <= size) & (width <= size) & (tf.minimum(height, width) >= size - MAX_PAD)

    def pad() -> tf.Tensor:
        return tf.cast(tf.image.resize_with_crop_or_pad(image, size, size), tf.float32)

    def resize_and_crop() -> tf.Tensor:
        side = tf.cast(tf.math.ceil(size / CROP_FRACTION), tf.float32)
        scale = side / tf.cast(tf.minimum(height, width), tf.float32)
        new = tf.cast(tf.math.ceil(tf.cast(tf.stack([height, width]), tf.float32) * scale), tf.int32)
        resized = tf.image.resize(image, tf.maximum(new, size), antialias=True)
        return tf.image.resize_with_crop_or_pad(resized, size, size)

    out = tf.cond(small, pad, resize_and_crop)
    return tf.ensure_shape(out, (size, size, image.shape[-1]))


def cifar_augment(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """§4.2: pad 4 pixels on each side, random ``size`` crop, random horizontal flip."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = fit_to_size(image, size)
    image = tf.image.resize_with_crop_or_pad(image, size + 2 * CIFAR_PAD, size + 2 * CIFAR_PAD)
    image = tf.image.stateless_random_crop(image, (size, size, image.shape[-1]), crop_seed)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def imagenet_augment(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """§3.4 scale augmentation as random-resized crop (8-100 % area, aspect 3/4-4/3) + flip."""
    box_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), tf.zeros((1, 0, 4)), box_seed, min_object_covered=0.0,
        aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    image = tf.slice(image, begin, extent)
    image = tf.image.resize(image, (size, size), antialias=True)
    image = tf.ensure_shape(image, (size, size, image.shape[-1]))
    return tf.image.stateless_random_flip_left_right(image, flip_seed)

