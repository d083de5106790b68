"""SavedModels written with Keras' ``ExportArchive``: the TF Serving model and the TFLite converter's source.

The serving model lives at ``<model_name>/<version>/`` (TF Serving's layout)
and has two signatures:

* ``serving_default``: ``images`` float32 ``(batch, H, W, C)``, preprocessed
  as in training -> ``probabilities`` ``(batch, classes)``, ``top_k_ids``
  int32, ``top_k_probabilities`` and ``top_k_names`` (strings),
  ``(batch, k)`` each, best first;
* ``image_bytes``: ``image_bytes`` string ``(batch,)`` of encoded JPEG/PNG
  images -> the same outputs, after :class:`~export.serving_preprocessing.Preprocessing`.

Everything is traced into the graph (class names are a constant), so the
SavedModel loads with TensorFlow alone: no Keras, no model code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from export.serving_preprocessing import Preprocessing

IMAGES = "images"
IMAGE_BYTES = "image_bytes"
PROBABILITIES = "probabilities"
SERVING_DEFAULT = "serving_default"
BATCH = 256
ENCODINGS = ("png", "jpeg")  # what the report sends through image_bytes
JPEG_QUALITY = 95


def images_spec(model: Any) -> tf.TensorSpec:
    """``images`` input of any batch size, shaped like the model's (Keras 3 or tf_keras) input."""
    return tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32, name=IMAGES)


def _archive(model: Any, endpoints: dict[str, tf.types.experimental.GenericFunction], path: Path) -> None:
    """Keras 3 models through Keras' ``ExportArchive``; a tf_keras model (the QAT twin) as a bare ``tf.Module``
    holding its variables, since saving the tf_keras object itself also serializes every layer for tf_keras
    (tracing each layer's call), which the converter never reads."""
    if not isinstance(model, keras.Model):
        module = tf.Module()
        module.model_variables = list(model.variables)
        signatures = {name: fn.get_concrete_function() for name, fn in endpoints.items()}
        tf.saved_model.save(module, str(path), signatures=signatures)
        return
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, fn in endpoints.items():
        archive.add_endpoint(name, fn)
    archive.write_out(str(path), verbose=False)


def write_probabilities_model(model: Any, path: Path) -> None:
    """One signature, ``serving_default``: ``images`` -> ``probabilities`` (what TFLite files expose)."""

    @tf.function(input_signature=[images_spec(model)])
    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return {PROBABILITIES: model(images, training=False)}

    _archive(model, {SERVING_DEFAULT: serve}, path)


def write_pixels_model(model: Any, path: Path, mean: np.ndarray, std: np.ndarray) -> None:
    """``serving_default``: ``images`` as 0-255 pixels -> ``probabilities`` of ``model((images - mean) / std)``.

    The source of the camera-ready ``uint8`` TFLite file. A fake-quant node
    with the range [0, 255] in front fixes the input's quantization at scale
    1, zero point 0 (uint8 pixel values unchanged), whatever range the
    calibration images happen to cover; it is the identity on whole pixel values.
    """
    mean, std = tf.constant(mean, tf.float32), tf.constant(std, tf.float32)

    @tf.function(input_signature=[images_spec(model)])
    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        pixels = tf.quantization.fake_quant_with_min_max_args(images, min=0.0, max=255.0, num_bits=8)
        return {PROBABILITIES: model((pixels - mean) / std, training=False)}

    _archive(model, {SERVING_DEFAULT: serve}, path)


def write_serving_model(model: keras.Model, path: Path, labels: list[str], top_k: int,
                        preprocessing: Preprocessing) -> None:
    """The TF Serving SavedModel with ``serving_default`` and ``image_bytes`` signatures."""
    names = tf.constant(labels)

    def classify(images: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = model(images, training=False)
        best = tf.math.top_k(probabilities, k=top_k)
        return {
            PROBABILITIES: probabilities,
            "top_k_ids": best.indices,
            "top_k_probabilities": best.values,
            "top_k_names": tf.gather(names, best.indices),
        }

    @tf.function(input_signature=[images_spec(model)])
    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return classify(images)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=IMAGE_BYTES)])
    def serve_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        shape = tuple(model.inputs[0].shape[1:])
        images = tf.map_fn(lambda encoded: preprocessing.decode(encoded, shape), image_bytes,
                           fn_output_signature=tf.TensorSpec(shape, tf.float32))
        return classify(images)

    _archive(model, {SERVING_DEFAULT: serve, IMAGE_BYTES: serve_bytes}, path)


def load(path: Path) -> Any:
    """The SavedModel at ``path``, loaded once for both checks."""
    return tf.saved_model.load(str(path))


def predict(loaded: Any, images: np.ndarray) -> np.ndarray:
    """``probabilities`` of a loaded SavedModel's ``serving_default`` signature, in batches."""
    signature = loaded.signatures[SERVING_DEFAULT]
    return np.concatenate([
        signature(**{IMAGES: tf.constant(images[i:i + BATCH])})[PROBABILITIES].numpy()
        for i in range(0, len(images), BATCH)
    ])


def encode(images: list[np.ndarray], image_format: str) -> list[bytes]:
    """uint8 ``(H, W, C)`` images (any sizes) as PNG or JPEG (quality :data:`JPEG_QUALITY`) bytes.

    Images of one size (a dataset's stored images) are encoded in one graph
    call, much faster than one eager call per image.
    """
    def encoder(image: tf.Tensor) -> tf.Tensor:
        if image_format == "png":
            return tf.io.encode_png(image)
        return tf.io.encode_jpeg(image, quality=JPEG_QUALITY)

    if len({image.shape for image in images}) > 1:
        return [encoder(image).numpy() for image in images]
    encode_all = tf.function(lambda batch: tf.map_fn(encoder, batch, fn_output_signature=tf.string))
    return list(encode_all(tf.constant(np.stack(images))).numpy())


def predict_encoded(loaded: Any, encoded: list[bytes]) -> np.ndarray:
    """``probabilities`` of a loaded SavedModel's ``image_bytes`` signature for encoded images, in batches."""
    signature = loaded.signatures[IMAGE_BYTES]
    return np.concatenate([
        signature(**{IMAGE_BYTES: tf.constant(encoded[i:i + BATCH])})[PROBABILITIES].numpy()
        for i in range(0, len(encoded), BATCH)
    ])
