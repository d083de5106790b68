"""SavedModel -> TFLite (LiteRT) flatbuffer with ``tf.lite.TFLiteConverter``, builtin ops only.

Variants (``--quantizations``):

* ``fp32``: float32 weights and compute;
* ``dynamic``: dynamic-range quantization (int8 weights, float activations);
* ``fp16``: float16 weights;
* ``int8``: full-integer post-training quantization calibrated on a
  representative dataset (int8 kernels only);
* ``uint8``: ``int8``, camera-ready: its input is uint8 RGB pixels 0-255
  (scale 1, zero point 0) as phone camera pipelines deliver them, and the
  model's pixel normalisation runs inside, quantized (the source is
  :func:`export.savedmodel.write_pixels_model`); output float32;
* ``qat``: a quantization-aware-trained model (fake-quant ranges learned in
  training, see :mod:`export.qat`) converted to integer kernels.

Only ``TFLITE_BUILTINS`` (``TFLITE_BUILTINS_INT8`` for ``int8``) are allowed,
never Select TF ops, so every file runs in the stock LiteRT runtime on a
phone. ``int8_io`` makes ``int8`` and ``qat`` take and return int8 tensors
(scale and zero point in the tensor details) instead of float32.

The files keep the source's signature: ``serving_default`` with input
``images`` and output ``probabilities``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from export.choices import INT8_IO_VARIANTS, VARIANTS
from export.savedmodel import IMAGES, SERVING_DEFAULT


def convert(source: Path, variant: str, representative: np.ndarray | None = None, int8_io: bool = False) -> bytes:
    """Convert the SavedModel at ``source`` (one ``serving_default`` signature) to a ``variant`` flatbuffer.

    ``representative`` (the source's input images, one calibration step each)
    is required for ``int8`` and ``uint8``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown TFLite variant {variant!r}; expected one of {VARIANTS}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(source), signature_keys=[SERVING_DEFAULT])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if variant in ("int8", "uint8"):
        def samples() -> Iterator[dict[str, np.ndarray]]:
            for image in representative:
                yield {IMAGES: image[np.newaxis]}

        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if variant == "uint8":
        converter.inference_input_type = tf.uint8
    if int8_io and variant in INT8_IO_VARIANTS:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # The calibrator uses tf.lite.Interpreter internally, which warns that it is deprecated.
        warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated", category=UserWarning)
        return converter.convert()
