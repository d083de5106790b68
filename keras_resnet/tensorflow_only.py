"""The parts of keras_resnet that need TensorFlow say so in one line.

The builders, weights, ``backbone`` and ``count_macs`` run on every Keras 3
backend. Training (``tf.data`` input, ``tf.distribute`` strategies, the fused
batch norm's op) and ``export/`` (SavedModel, LiteRT) run on TensorFlow only.
"""

from __future__ import annotations

import os
from types import ModuleType

TENSORFLOW_PIN = "tensorflow==2.21.0"


def require_tensorflow(feature: str) -> ModuleType:
    """TensorFlow, for ``feature``; a clear error when it is missing or another backend runs."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    try:
        import keras

        backend = keras.backend.backend()
    except ImportError:
        pass
    if backend != "tensorflow":
        raise RuntimeError(
            f"{feature} runs on the TensorFlow backend only (tf.data, tf.distribute); KERAS_BACKEND={backend}. "
            "On this backend use the builders with model.fit / model.save directly."
        )
    try:
        import tensorflow
    except ImportError as err:
        raise ImportError(f"{feature} needs TensorFlow: pip install {TENSORFLOW_PIN}") from err
    return tensorflow
