"""ResNet-50 training and inference on one NVIDIA GPU, beside NVIDIA's published TensorFlow figures (a worker's
``call`` target: ``python -m benchmarks --sections=gpu``).

Training: ResNet-50 v1.5, the variant NVIDIA's figures are for (224x224, 1000 classes), with keras_resnet's recipe
under Keras' ``mixed_float16`` policy and XLA, on one synthetic batch of uint8 pixels (cast on the GPU: a quarter of
float32's host-to-device copy), timed between batch ends as on the CPU. Inference: the same net with batch norm
folded, ``mixed_float16`` and XLA, ``predict_on_batch`` on inputs held on the GPU, at the training batch and at 1.
If the GPU's name matches a published row (A100, V100), training is given as a ratio to NVIDIA's 1-GPU "mixed
precision + XLA" figure (:data:`benchmarks.published.PUBLISHED`). With no GPU visible to TensorFlow it returns
before building any model.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from benchmarks.published import PUBLISHED
from benchmarks.settings import Settings
from benchmarks.timing import Candidate, interleaved, rows

PUBLISHED_PRECISION = "mixed precision + XLA"
MODEL, SIZE, CLASSES, POLICY = "resnet50_v1.5", 224, 1000, "mixed_float16"


def published_row(device_name: str) -> dict[str, Any] | None:
    """NVIDIA's mixed precision + XLA row for the GPU ``device_name`` names (as TensorFlow reports it, e.g.
    ``"NVIDIA A100-SXM4-40GB"``), or None when no published row is for that GPU."""
    for row in PUBLISHED["rows"]:
        gpu = re.search(r"\dx (\w+)", row["system"])[1]  # "DGX A100 (8x A100 40GB)" -> "A100"
        if row["precision"] == PUBLISHED_PRECISION and re.search(rf"\b{gpu}\b", device_name, re.IGNORECASE):
            return row
    return None


def run(candidates: Mapping[str, Candidate], settings: Settings) -> dict[str, Any]:
    """The first GPU's training and inference rows and the ratio to its published row; ``{"device": None}``
    without a GPU."""
    import numpy as np
    import tensorflow as tf

    import keras_resnet
    from benchmarks import training
    from keras_resnet.inference import optimize_for_inference

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return {"device": None}
    tf.config.set_visible_devices(gpus[0], "GPU")  # one GPU, as the published 1-GPU figures
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    batch = settings.gpu_batch
    model = training.keras_model(jit_compile=True, precision=POLICY, model_name=MODEL, size=SIZE, classes=CLASSES)
    rng = np.random.default_rng(0)
    data = training.batch_data(rng.integers(0, 256, (batch, SIZE, SIZE, 3), dtype=np.uint8),
                               rng.integers(0, CLASSES, batch))
    timed = [Candidate(f"training, {POLICY} + XLA, batch {batch}", batch, window=training.fit_window(model, data))]
    with training.dtype_policy(POLICY):
        folded = optimize_for_inference(model, jit_compile=True)
    for size in dict.fromkeys((batch, 1)):
        with tf.device("/GPU:0"):
            images = tf.random.uniform((size, SIZE, SIZE, 3), 0.0, 255.0, seed=size)
        timed.append(Candidate(f"inference, folded BN, {POLICY} + XLA, batch {size}", size,
                               step=lambda images=images: folded.predict_on_batch(images)))
    forward = 2 * keras_resnet.count_macs(model)
    measured = rows(interleaved(timed, settings.windows, settings.window_seconds, settings.warmup,
                                functools.partial(print, flush=True)), forward)
    measured[0]["gflops"] *= training.BACKWARD_FACTOR
    row = published_row(name)
    return {"device": name, "rows": measured, "published": row, "published_source": PUBLISHED["source"],
            "ratio_to_published": round(measured[0]["median_items_per_s"] / row["gpus_1"], 3) if row else None}
