"""SavedModel -> LiteRT flatbuffer with ``tf.lite.TFLiteConverter``, as a row of :mod:`export.variants` says.

The files keep the source's signature: ``serving_default`` with input
``images`` and output ``probabilities``. Per-tensor files set the
converter's ``_experimental_disable_per_channel`` (the converter's only
switch for it, used by TensorFlow's own per-tensor tests): one scale per
weight tensor, as accelerators without per-axis quantization need.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from export.phases import Phases
from export.savedmodel import IMAGES, SERVING_DEFAULT
from export.variants import Job


def convert(source: Path, job: Job, representative: np.ndarray | None = None, int8_io: bool = False,
            phases: Phases | None = None) -> bytes:
    """Convert the SavedModel at ``source`` (one ``serving_default`` signature) to ``job``'s flatbuffer.

    ``representative`` (the source's input images, one calibration step
    each) is required for variants with a ``representative``; the
    calibration (the converter running the model on them) is timed as
    ``phases``' ``"calibrate <label>"``.
    """
    phases = phases or Phases()
    variant = job.variant
    converter = tf.lite.TFLiteConverter.from_saved_model(str(source), signature_keys=[SERVING_DEFAULT])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant.optimize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant.float16:
        converter.target_spec.supported_types = [tf.float16]
    if variant.representative:
        def samples() -> Iterator[dict[str, np.ndarray]]:
            with phases(f"calibrate {job.label}"):
                for image in representative:
                    yield {IMAGES: image[np.newaxis]}

        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if variant.input_type == "uint8":
        converter.inference_input_type = tf.uint8
    if int8_io and variant.integer_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if job.granularity == "per_tensor":
        converter._experimental_disable_per_channel = True
    with warnings.catch_warnings():
        # The calibrator uses tf.lite.Interpreter internally, which warns that it is deprecated.
        warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated", category=UserWarning)
        return converter.convert()
