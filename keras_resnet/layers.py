"""Option-A shortcut (paper §3.3): identity with zero-padded channels.

"(A) zero-padding shortcuts are used for increasing dimensions, and all
shortcuts are parameter-free" — the input is subsampled by the block's stride
(taking every ``stride``-th pixel) and its channels are zero-padded up to the
block's output width. Only builtin ops (STRIDED_SLICE, PAD) are used, so the
layer converts to TFLite and runs on phones.

The same layer exists for tf_keras (Keras 2), registered under the same
name, so a Keras 3 model can be rebuilt in tf_keras for quantization-aware
training without a second copy of any architecture.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

PACKAGE = "keras_resnet"


def _zero_pad_shortcut(x: Any, channels: int, stride: int) -> Any:
    if stride > 1:
        x = x[:, ::stride, ::stride, :]
    extra = channels - x.shape[-1]
    if extra:
        x = tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])
    return x


class _ZeroPadShortcutMixin:
    """Behaviour shared by the Keras 3 layer and its tf_keras twin."""

    def __init__(self, channels: int, stride: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(channels) < 1:
            raise ValueError(f"`channels` must be >= 1; received channels={channels!r}")
        if int(stride) < 1:
            raise ValueError(f"`stride` must be >= 1; received stride={stride!r}")
        self.channels = int(channels)
        self.stride = int(stride)

    def call(self, inputs: Any) -> Any:
        if inputs.shape[-1] > self.channels:
            raise ValueError(f"ZeroPadShortcut cannot shrink {inputs.shape[-1]} channels to {self.channels}")
        return _zero_pad_shortcut(inputs, self.channels, self.stride)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n, h, w, _ = input_shape
        h = None if h is None else -(-h // self.stride)
        w = None if w is None else -(-w // self.stride)
        return (n, h, w, self.channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "channels": self.channels, "stride": self.stride}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ZeroPadShortcut(_ZeroPadShortcutMixin, keras.layers.Layer):
    """Parameter-free shortcut: subsample by ``stride``, zero-pad to ``channels``."""


def tf_keras_custom_objects() -> dict[str, type]:
    """The tf_keras (Keras 2) twins of this package's layers, by registered name.

    Imported lazily: tf_keras is only needed for quantization-aware training.
    """
    import tf_keras

    name = f"{PACKAGE}>ZeroPadShortcut"
    twin = tf_keras.saving.get_registered_object(name)
    if twin is None:
        bases = (_ZeroPadShortcutMixin, tf_keras.layers.Layer)
        twin = type("ZeroPadShortcut", bases, {"__doc__": ZeroPadShortcut.__doc__})
        twin = tf_keras.saving.register_keras_serializable(package=PACKAGE)(twin)
    return {name: twin, "ZeroPadShortcut": twin}
