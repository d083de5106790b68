"""Per-image transforms of the input pipeline, all in ``tf.data`` with stateless ops.

* evaluation: :func:`~keras_resnet.preprocessing.to_rgb` then
  :func:`~keras_resnet.preprocessing.fit_to_size` (28x28 is zero-padded to
  32x32; larger images are resized and center-cropped), shared with serving;
* ``"cifar"`` augmentation (paper §4.2): 4-pixel zero padding, random crop,
  horizontal flip;
* ``"imagenet"`` augmentation (paper §3.4): random-resized crop (scale
  8-100 %, aspect 3/4-4/3; the common stand-in for the paper's shorter side
  in [256, 480]) and flip.
"""

from __future__ import annotations

import tensorflow as tf

from keras_resnet.preprocessing import fit_to_size  # the one evaluation/serving transform

CIFAR_PAD = 4          # §4.2: "4 pixels are padded on each side"


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

