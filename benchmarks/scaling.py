"""Scale-plan measurements: 1 vs 2 data-parallel replicas on this CPU, the input pipeline's own speed,
and the projection to 8 GPUs and many workers from NVIDIA's published ResNet-50 TensorFlow figures.

Replicas are logical CPUs (``keras_resnet.distribute.split_cpu``, which must
run before TensorFlow starts: ``python -m benchmarks`` does it first) under
``MirroredStrategy``, training CIFAR ResNet-20 with ``model.fit`` at the same
global batch, interleaved. Both replicas share the same two cores, so this
measures what replication costs (splitting the batch, the all-reduce), not a
speed-up. The input pipeline is ``keras_resnet.datasets.pipeline`` as
training uses it: Fashion-MNIST with the CIFAR augmentation at 32x32, and a
folder of JPEG files with the ImageNet augmentation (decode, random-resized
crop, flip) at the ResNet-50 input size.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from benchmarks import training
from benchmarks.published import PUBLISHED
from benchmarks.settings import Settings
from benchmarks.timing import Candidate, interleaved
from keras_resnet import datasets

REPLICA_COUNTS = (1, 2)
JPEG_SHAPE = (375, 500, 3)  # a typical ImageNet photo
JPEG_QUALITY = 90
JPEG_CLASSES = 2
IMAGENET_BATCH = 32
BYTES_PER_GRADIENT = 4  # float32 all-reduce


def _replica_candidates(batch: int, log: Callable[[str], None]) -> list[Candidate] | None:
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(devices) < max(REPLICA_COUNTS):
        log(f"scaling: only {len(devices)} logical CPU(s); run through `python -m benchmarks` to split the CPU")
        return None
    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch, training.SIZE, training.SIZE, 3), dtype=np.float32)
    labels = rng.integers(0, training.CLASSES, batch)
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    candidates = []
    for count in REPLICA_COUNTS:
        model = training.keras_model(tf.distribute.MirroredStrategy(devices[:count]))
        candidates.append(Candidate(f"{count} replica(s)", batch, window=training.fit_window(model, dataset),
                                    info={"replicas": count, "per_replica_batch": batch // count}))
    return candidates


def _write_jpegs(folder: Path, count: int) -> None:
    """``count`` smooth random photos (low-frequency colour fields plus noise) as JPEG files, in class folders."""
    rng = np.random.default_rng(0)
    for index in range(count):
        coarse = rng.uniform(0, 255, (1, 12, 16, 3)).astype(np.float32)
        image = tf.image.resize(coarse, JPEG_SHAPE[:2]).numpy()[0] + rng.normal(0, 8, JPEG_SHAPE)
        encoded = tf.io.encode_jpeg(np.clip(image, 0, 255).astype(np.uint8), quality=JPEG_QUALITY)
        target = folder / f"class{index % JPEG_CLASSES}" / f"{index:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(encoded.numpy())


def _pipeline_candidate(name: str, source: datasets.Source, batch: int, size: int, augment: str) -> Candidate:
    dataset, count = datasets.pipeline(source, "train", training=True, batch_size=batch, image_size=size,
                                       augment=augment)
    iterator = iter(dataset.repeat())
    return Candidate(name, batch, step=lambda: next(iterator),
                     info={"augment": augment, "image_size": size, "batch": batch, "examples": count})


def run(settings: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Replica throughput (if the CPU was split), pipeline images/s, and the published GPU figures."""
    out: dict[str, Any] = {"published": PUBLISHED}
    candidates = _replica_candidates(settings.train_batch, log)
    if candidates:
        log(f"scaling: ResNet-20 fit, global batch {settings.train_batch}, 1 vs 2 replicas")
        results = interleaved(candidates, settings.windows, settings.window_seconds, settings.warmup, log)
        out["replicas"] = [m.to_dict() for m in results.values()]
        one, two = (results[c.name].median for c in candidates)
        out["two_replica_speedup"] = round(two / one, 3)
    with tempfile.TemporaryDirectory(prefix="keras_resnet_jpegs_") as scratch:
        _write_jpegs(Path(scratch), settings.pipeline_jpegs)
        batch = min(IMAGENET_BATCH, settings.pipeline_jpegs // 2)
        pipelines = [
            _pipeline_candidate("fashion_mnist, cifar augmentation, 32x32", datasets.load("fashion_mnist"),
                                settings.train_batch, 32, "cifar"),
            _pipeline_candidate(f"JPEG folder, imagenet augmentation, {settings.inference_size}x"
                                f"{settings.inference_size}", datasets.load(scratch), batch,
                                settings.inference_size, "imagenet"),
        ]
        log("scaling: tf.data input pipelines")
        results = interleaved(pipelines, settings.windows, settings.window_seconds, settings.warmup, log)
    out["pipelines"] = [m.to_dict() for m in results.values()]
    return out


def projection(scaling: dict[str, Any], cores: int, params: int) -> dict[str, Any]:
    """What 8 GPUs and many workers need, from the published rows, ResNet-50's ``params`` (gradients to
    all-reduce) and this machine's JPEG pipeline measurement on ``cores`` cores."""
    jpeg = scaling["pipelines"][-1]["median_items_per_s"]
    rows = []
    for row in PUBLISHED["rows"]:
        per_gpu = row["gpus_8"] / 8
        steps_per_s = per_gpu / row["batch_per_gpu"]
        # ring all-reduce: each GPU sends and receives 2 (N - 1) / N of the gradient bytes per step
        ring_gb_s = 2 * 7 / 8 * params * BYTES_PER_GRADIENT * steps_per_s / 1e9
        rows.append({**row, "scaling_efficiency_8": round(row["gpus_8"] / (8 * row["gpus_1"]), 3),
                     "pipeline_img_s_needed": row["gpus_8"],
                     "cores_needed_at_measured_rate": round(row["gpus_8"] / (jpeg / cores), 1),
                     "allreduce_gb_s_per_gpu": round(ring_gb_s, 2)})
    return {"jpeg_pipeline_img_s": jpeg, "jpeg_pipeline_img_s_per_core": round(jpeg / cores, 1), "rows": rows}
