"""The package's two custom layers: the option-A shortcut and a fused batch norm.

Option-A shortcut (paper §3.3): identity with zero-padded channels.

"(A) zero-padding shortcuts are used for increasing dimensions, and all
shortcuts are parameter-free" — the input is subsampled by the block's stride
(taking every ``stride``-th pixel) and its channels are zero-padded up to the
block's output width. Only builtin ops (STRIDED_SLICE, PAD) are used, so the
layer converts to TFLite and runs on phones.

Batch normalization (paper §3.4, "BN right after each convolution and
before activation"): Keras 3 computes training-mode BN from separate
moments / normalize ops; on TensorFlow this package's
:class:`BatchNormalization` runs the same maths as one ``FusedBatchNormV3``
op (and its fused gradient), which oneDNN implements in one pass (BENCHMARKS.md
compares the two). It is a training-speed detail, not a file format: weights,
config, inference and moving statistics are those of
``keras.layers.BatchNormalization``, and it is saved under that class's public
name, so a ``.keras`` file loads with plain Keras in a process that never
imports keras_resnet, and keras.applications' ``.weights.h5`` files (which
address a functional model's layers by class name, ``batch_normalization_12``)
load.

Both layers exist for tf_keras (Keras 2) under the same names, so a Keras 3
model can be rebuilt in tf_keras for quantization-aware training without a
second copy of any architecture; there the batch norm is tf_keras' own, which
tfmot folds into the convolution before it.
"""

from __future__ import annotations

from typing import Any

import keras

PACKAGE = "keras_resnet"
DATA_FORMATS = ("channels_last", "channels_first")


class _ZeroPadShortcutMixin:
    """Behaviour shared by the Keras 3 layer and its tf_keras twin (``ops``: the
    framework's op namespace, ``keras.ops`` or TensorFlow)."""

    def __init__(self, channels: int, stride: int = 1, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(channels) < 1:
            raise ValueError(f"`channels` must be >= 1; received channels={channels!r}")
        if int(stride) < 1:
            raise ValueError(f"`stride` must be >= 1; received stride={stride!r}")
        data_format = data_format or keras.config.image_data_format()
        if data_format not in DATA_FORMATS:
            raise ValueError(f"`data_format` must be one of {DATA_FORMATS}; received data_format={data_format!r}")
        self.channels = int(channels)
        self.stride = int(stride)
        self.data_format = data_format

    def call(self, inputs: Any) -> Any:
        first = self.data_format == "channels_first"
        have = inputs.shape[1 if first else -1]
        if have > self.channels:
            raise ValueError(f"ZeroPadShortcut cannot shrink {have} channels to {self.channels}")
        s = self.stride
        x = inputs
        if s > 1:
            x = x[:, :, ::s, ::s] if first else x[:, ::s, ::s, :]
        if self.channels > have:
            pad = [[0, 0], [0, self.channels - have], [0, 0], [0, 0]]
            x = self._pad(x, pad if first else [pad[0], pad[2], pad[3], pad[1]])
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        first = self.data_format == "channels_first"
        n, *spatial = (input_shape[0], *input_shape[2:]) if first else input_shape[:3]
        spatial = [None if d is None else -(-d // self.stride) for d in spatial]
        return (n, self.channels, *spatial) if first else (n, *spatial, self.channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channels": self.channels, "stride": self.stride,
                "data_format": self.data_format}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ZeroPadShortcut(_ZeroPadShortcutMixin, keras.layers.Layer):
    """Parameter-free shortcut: subsample by ``stride``, zero-pad to ``channels``
    (keras.ops only, so every Keras backend runs it)."""

    @staticmethod
    def _pad(x: Any, pad: list) -> Any:
        return keras.ops.pad(x, pad)


# FusedBatchNormV3 rejects smaller epsilons (keras.applications' 1.001e-5 exists for this reason).
_FUSED_MIN_EPSILON = 1.001e-5


class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` whose training step is TensorFlow's fused op.

    Used where the fused op computes exactly what the parent does: TensorFlow
    backend, training mode, 4-D input normalised on its channel axis (NHWC or
    NCHW) of float16/bfloat16/float32,
    no mask, no renormalization and no cross-replica (synchronized) statistics;
    everywhere else the parent's ``call`` runs. The moving variance is updated
    with the biased batch variance, as the parent does (the op returns the
    unbiased one).

    Saved as ``keras.layers.BatchNormalization`` (:func:`_save_as_keras_class`),
    and deliberately not registered as a custom object, so no file names it.
    """

    def _fuses(self, inputs: Any, training: Any, mask: Any) -> bool:
        return bool(
            training and self.trainable and mask is None and keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4 and self.axis in (-1, 1, 3) and not self.synchronized and not self.renorm
            and self.scale and self.center and self.epsilon >= _FUSED_MIN_EPSILON
            and keras.backend.standardize_dtype(inputs.dtype) in ("float16", "bfloat16", "float32"))

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        if not self._fuses(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # _fuses: the TensorFlow backend is running

        first = self.axis == 1
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, tf.cast(self.gamma, "float32"), tf.cast(self.beta, "float32"), epsilon=self.epsilon,
            data_format="NCHW" if first else "NHWC", is_training=True)
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)) // tf.shape(inputs)[1 if first else -1], "float32")
        variance = variance * tf.maximum(count - 1.0, 0.0) / count
        decay = 1.0 - self.momentum
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * decay)
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * decay)
        return tf.cast(outputs, self.compute_dtype)


def _save_as_keras_class(cls: type, public_name: str) -> None:
    """Serialize ``cls`` under Keras' public name ``public_name``.

    Keras writes a layer's class as the public name it finds for the class in
    its export table (``keras.saving.serialize_keras_object`` reads it first),
    and loads that name as Keras' own class. Only the class -> name direction
    is added, so loading any file still gives Keras' class and nothing else in
    the process changes.
    """
    from keras.src import api_export

    api_export.REGISTERED_OBJS_TO_NAMES[cls] = public_name


_save_as_keras_class(BatchNormalization, "keras.layers.BatchNormalization")


def tf_keras_custom_objects() -> dict[str, type]:
    """The tf_keras (Keras 2) twins of this package's layers, by registered name.

    Imported lazily: tf_keras is only needed for quantization-aware training.
    """
    import tf_keras

    name = f"{PACKAGE}>ZeroPadShortcut"
    twin = tf_keras.saving.get_registered_object(name)
    if twin is None:
        import tensorflow as tf

        bases = (_ZeroPadShortcutMixin, tf_keras.layers.Layer)
        twin = type("ZeroPadShortcut", bases, {"__doc__": ZeroPadShortcut.__doc__, "_pad": staticmethod(tf.pad)})
        twin = tf_keras.saving.register_keras_serializable(package=PACKAGE)(twin)
    batch_norm = tf_keras.layers.BatchNormalization
    return {name: twin, "ZeroPadShortcut": twin, "BatchNormalization": batch_norm}


def load_model(path: str, **kwargs: Any) -> keras.Model:
    """``keras.models.load_model`` for this package's files: importing this module registered its
    option-A layer, which ``import keras_resnet`` alone (lazy) does not before Keras is loaded."""
    return keras.models.load_model(path, **kwargs)
