"""Scale plan: 1 vs 2 data-parallel replicas on this CPU, the input pipeline's speed, and what NVIDIA's published
ResNet-50 TensorFlow figures (:mod:`benchmarks.published`) would need from both on 8 GPUs and across workers.

Replicas are logical CPUs (``keras_resnet.distribute.split_cpu``, done by this section's worker before its first
op) under ``MirroredStrategy``, training ResNet-20 at the same global batch. They share the same cores, so this
measures what replication costs (splitting the batch, the all-reduce), not a speed-up. The pipelines are
``keras_resnet.datasets.pipeline`` as training runs it: Fashion-MNIST with the CIFAR augmentation, and a folder of
JPEG files with the ImageNet augmentation (decode, random-resized crop, flip) at the ResNet-50 input size.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import keras_resnet
from benchmarks import training
from benchmarks.published import PUBLISHED
from benchmarks.settings import Settings
from benchmarks.timing import Candidate, interleaved
from keras_resnet import datasets

JPEG_SHAPE, JPEG_QUALITY, JPEG_CLASSES, IMAGENET_BATCH = (375, 500, 3), 90, 2, 32  # a typical ImageNet photo
BYTES_PER_GRADIENT = 4  # float32 all-reduce


def _write_jpegs(folder: Path, count: int) -> None:
    """``count`` smooth random photos (low-frequency colour fields plus noise) as JPEG files, in class folders."""
    rng = np.random.default_rng(0)
    for index in range(count):
        coarse = rng.uniform(0, 255, (1, 12, 16, 3)).astype(np.float32)
        image = tf.image.resize(coarse, JPEG_SHAPE[:2]).numpy()[0] + rng.normal(0, 8, JPEG_SHAPE)
        target = folder / f"class{index % JPEG_CLASSES}" / f"{index:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(tf.io.encode_jpeg(np.clip(image, 0, 255).astype(np.uint8), quality=JPEG_QUALITY).numpy())


def _pipeline(name: str, source: datasets.Source, batch: int, size: int, augment: str) -> Candidate:
    dataset, _ = datasets.pipeline(source, "train", training=True, batch_size=batch, image_size=size, augment=augment)
    iterator = iter(dataset.repeat())
    return Candidate(name, batch, step=lambda: next(iterator), info={"augment": augment, "batch": batch})


def run(candidates: Mapping[str, Candidate], settings: Settings, cores: int) -> dict[str, Any]:
    """Replica and pipeline rows, and the projection (a worker's ``call`` target; ``cores``: physical cores)."""
    log, batch = functools.partial(print, flush=True), settings.train_batch
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    data = training.batch_data(*training.synthetic_batch(batch))
    replicas = [Candidate(f"{n} replica(s)", batch, info={"replicas": n, "per_replica_batch": batch // n},
                          window=training.fit_window(training.keras_model(tf.distribute.MirroredStrategy(
                              devices[:n])), data)) for n in (1, 2)]
    log(f"scaling: ResNet-20 fit, global batch {batch}, 1 vs 2 replicas")
    out: dict[str, Any] = {"published": PUBLISHED, "replicas": list(interleaved(
        replicas, settings.windows, settings.window_seconds, settings.warmup, log).values())}
    out["two_replica_speedup"] = round(out["replicas"][1]["median_items_per_s"]
                                       / out["replicas"][0]["median_items_per_s"], 3)
    with tempfile.TemporaryDirectory(prefix="keras_resnet_jpegs_") as scratch:
        _write_jpegs(Path(scratch), settings.pipeline_jpegs)
        size = settings.inference_size
        pipelines = [_pipeline("fashion_mnist, cifar augmentation, 32x32", datasets.load("fashion_mnist"), batch, 32,
                               "cifar"),
                     _pipeline(f"JPEG folder, imagenet augmentation, {size}x{size}", datasets.load(scratch),
                               min(IMAGENET_BATCH, settings.pipeline_jpegs // 2), size, "imagenet")]
        log("scaling: tf.data input pipelines")
        out["pipelines"] = list(interleaved(pipelines, settings.windows, settings.window_seconds, settings.warmup,
                                            log).values())
    params = keras_resnet.ResNet50(weights=None, kernel_initializer="zeros").count_params()
    return {**out, "projection": projection(out["pipelines"][-1]["median_items_per_s"], cores, params)}


def projection(jpeg: float, cores: int, params: int) -> dict[str, Any]:
    """Per published row: 8-GPU scaling efficiency, CPU cores the JPEG pipeline (``jpeg`` images/s on ``cores``
    cores) needs to feed 8 GPUs, and the ring all-reduce GB/s per GPU of ResNet-50's ``params`` gradients."""
    rows = []
    for row in PUBLISHED["rows"]:
        steps_per_s = row["gpus_8"] / 8 / row["batch_per_gpu"]
        # ring all-reduce: each GPU sends and receives 2 (N - 1) / N of the gradient bytes per step
        rows.append({**row, "scaling_efficiency_8": round(row["gpus_8"] / (8 * row["gpus_1"]), 3),
                     "cores_needed_at_measured_rate": round(row["gpus_8"] / (jpeg / cores), 1),
                     "allreduce_gb_s_per_gpu": round(2 * 7 / 8 * params * BYTES_PER_GRADIENT * steps_per_s / 1e9, 2)})
    return {"jpeg_pipeline_img_s": jpeg, "jpeg_pipeline_img_s_per_core": round(jpeg / cores, 1), "rows": rows}
