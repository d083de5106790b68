"""Keras' own augmentation layers on the training batches, after the input
pipeline's ``augment`` (pad-crop-flip or random-resized crop):

* per image: ``keras.layers.RandAugment`` (Cubuk et al. 2020; its operations
  are drawn per call, so it runs on single images for a draw per image, as
  in the paper) and ``keras.layers.RandomErasing`` (Zhong et al. 2020);
* per batch: ``keras.layers.MixUp`` (Zhang et al. 2018) and
  ``keras.layers.CutMix`` (Yun et al. 2019); with both on, each batch gets
  one of them, as timm does.

Labels become one-hot vectors (:func:`one_hot`) whenever the run's loss
takes probabilities (``TrainConfig.soft_labels``). The layers draw from
Keras' seeded generators in parallel ``tf.data`` maps: a run is
reproducible in distribution, not bit for bit as the paper recipe is.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_resnet.training.config import TrainConfig

VALUE_RANGE = (0, 255)  # the pipeline's images are RGB in [0, 255], cast to float32 for the layers


def one_hot(ds: tf.data.Dataset, num_classes: int) -> tf.data.Dataset:
    """``(image, label)`` batches with float32 one-hot labels."""
    return ds.map(lambda image, label: (image, tf.one_hot(label, num_classes)), num_parallel_calls=tf.data.AUTOTUNE)


def _per_image(config: TrainConfig) -> list[keras.layers.Layer]:
    layers = []
    if config.rand_augment:
        layers.append(keras.layers.RandAugment(VALUE_RANGE, num_ops=config.rand_augment, seed=config.seed))
    if config.random_erasing:
        layers.append(keras.layers.RandomErasing(config.random_erasing, value_range=VALUE_RANGE, seed=config.seed))
    return layers


def _per_batch(config: TrainConfig) -> list[keras.layers.Layer]:
    layers = []
    if config.mixup:
        layers.append(keras.layers.MixUp(alpha=config.mixup, seed=config.seed))
    if config.cutmix:
        layers.append(keras.layers.CutMix(factor=config.cutmix, seed=config.seed))
    return layers


def training_batches(ds: tf.data.Dataset, config: TrainConfig, num_classes: int) -> tf.data.Dataset:
    """The training batches of ``ds`` (full batches of ``(image, int label)``)
    with ``config``'s Keras augmentation layers applied and, when
    ``config.soft_labels``, one-hot labels."""
    steps = int(ds.cardinality())
    per_image, per_batch = _per_image(config), _per_batch(config)
    if not (per_image or per_batch or config.soft_labels):
        return ds
    if per_image:
        batch_size = ds.element_spec[0].shape[0]

        def image_ops(image: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            image = tf.cast(image, tf.float32)
            for layer in per_image:
                image = layer(image, training=True)
            return image, label

        ds = ds.unbatch().map(image_ops, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
    if config.soft_labels:
        ds = one_hot(ds, num_classes)
    if per_batch:
        choice = tf.random.Generator.from_seed(config.seed)

        def batch_ops(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            images = tf.cast(images, tf.float32)  # mixing blends pixels into fractions
            def mix(layer: keras.layers.Layer) -> tuple[tf.Tensor, tf.Tensor]:
                out = layer({"images": images, "labels": labels}, training=True)
                return out["images"], out["labels"]

            if len(per_batch) == 1:
                return mix(per_batch[0])
            return tf.cond(choice.uniform([]) < 0.5, lambda: mix(per_batch[0]), lambda: mix(per_batch[1]))

        ds = ds.map(batch_ops)
    return ds.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)
