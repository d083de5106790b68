"""Images/s of the ImageNet-style training input pipeline on a folder of JPEG photos, side by side.

``python -m benchmarks.jpeg_pipeline [--tiny] [--json PATH]`` writes phone-like JPEGs (500x375, EXIF, one in ten
stored sideways), times epochs of each candidate in turns (:data:`RUNS`) and prints as JSON the best round's images/s
and CPU time per image (all threads and processes; steadier on a shared machine). ``decode only`` decodes every file
(the limit of any pipeline decoding whole images); ``decode, then crop`` is :func:`keras_resnet.datasets.pipeline`
cropping the decoded image; ``decode the crop`` the same pipeline as training reads a folder, decoding only the crop;
``PyTorch + PIL`` a ``DataLoader`` with PIL, EXIF transpose and torchvision's ``RandomResizedCrop`` (written here:
torchvision does not import beside this torch), run first so that its processes fork before TensorFlow's threads.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from absl import app, flags
from PIL import Image, ImageFilter, ImageOps

from benchmarks.machine import cpu_seconds
from keras_resnet.flagtypes import flags_parser, usage_error
from keras_resnet.io import atomic_path

WIDTH, HEIGHT = 500, 375  # ImageNet's typical photo
SIDEWAYS_EVERY = 10  # one photo in ten stored sideways with EXIF orientation 6, as a phone held upright
SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)  # the random-resized crop's area and aspect ranges

#: JPEGs per epoch, crop side, batch, timed epochs per candidate (in turns), tf.data threads and DataLoader workers.
RUNS = {"full": {"images": 2000, "size": 224, "batch": 64, "rounds": 3, "workers": os.cpu_count() or 1},
        "tiny": {"images": 24, "size": 224, "batch": 4, "rounds": 1, "workers": 1}}
FLAGS = flags.FLAGS
PROG = "python -m benchmarks.jpeg_pipeline"


def write_photos(folder: Path, count: int, seed: int = 0) -> list[str]:
    """``count`` JPEGs (quality 90) of blurred shapes on a gradient with sensor-like noise, in one class folder."""
    rng = np.random.default_rng(seed)
    (folder / "photos").mkdir(parents=True)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    paths = [str(folder / "photos" / f"{index:05d}.jpg") for index in range(count)]
    for index, path in enumerate(paths):
        base = rng.uniform(0, 255, 3) + sum(rng.uniform(-0.3, 0.3, 3) * axis[..., None] for axis in (x, y))
        canvas = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        for _ in range(12):
            (left, right), (top, bottom) = sorted(rng.integers(0, WIDTH, 2)), sorted(rng.integers(0, HEIGHT, 2))
            canvas.paste(tuple(int(v) for v in rng.integers(0, 256, 3)), (left, top, right, bottom))
        pixels = np.asarray(canvas.filter(ImageFilter.GaussianBlur(2)), np.float32) + rng.normal(0, 6, y.shape + (3,))
        tags = Image.Exif()
        tags[0x0112] = 6 if index % SIDEWAYS_EVERY == 0 else 1
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=90, exif=tags.tobytes())
    return paths


def _time_epoch(epoch: Callable[[], Iterable]) -> dict[str, float]:
    """Images/s of one epoch, and CPU time per image of this process and its children (e.g. DataLoader workers)."""
    start, cpu = time.perf_counter(), cpu_seconds()
    images = sum(len(b[0]) if isinstance(b, (tuple, list)) else len(b) for b in epoch())
    return {"images_per_second": images / (time.perf_counter() - start),
            "cpu_ms_per_image": 1000 * (cpu_seconds() - cpu) / images}


def random_resized_crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params``: ten tries at a window of random area and log-uniform
    aspect ratio inside the image, else the whole image clamped to the ratio range, centred."""
    area = width * height
    for _ in range(10):
        target = area * random.uniform(*SCALE)
        ratio = math.exp(random.uniform(math.log(RATIO[0]), math.log(RATIO[1])))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            left, top = random.randint(0, width - w), random.randint(0, height - h)
            return left, top, left + w, top + h
    aspect = width / height
    w, h = (width, round(width / RATIO[0])) if aspect < RATIO[0] else (
        (round(height * RATIO[1]), height) if aspect > RATIO[1] else (width, height))
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def _crops(paths: list[str], size: int) -> tuple[object, int]:
    """A batch (``collate_fn``, run in the loader's workers): each photo upright, cropped, resized, maybe flipped."""
    import torch

    crops = []
    for path in paths:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        crop = image.resize((size, size), Image.Resampling.BILINEAR, box=random_resized_crop_box(*image.size))
        crops.append(crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if random.random() < 0.5 else crop)
    return torch.from_numpy(np.stack(crops)), 0


def tensorflow_candidates(folder: Path, size: int, batch: int, workers: int) -> dict[str, Callable[[], Iterable]]:
    """One epoch of each TensorFlow candidate, its encoded files cached in memory as training caches them."""
    import tensorflow as tf

    from keras_resnet import datasets

    options = tf.data.Options()
    options.threading.private_threadpool_size = workers
    source = datasets.load(str(folder), validation_split=0.01)
    whole_images = dataclasses.replace(source, files=None)  # records alone: the pipeline decodes, then crops

    def decode(data: tf.Tensor, _: tf.Tensor) -> tf.Tensor:
        return tf.shape(tf.io.decode_jpeg(data, channels=3))  # the shape is only known once decoded

    pipelines = {"decode only": source.read("train").cache().map(decode, num_parallel_calls=tf.data.AUTOTUNE)
                 .batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)}
    for name, candidate in (("decode, then crop", whole_images), ("decode the crop", source)):
        pipelines[name] = datasets.pipeline(candidate, "train", training=True, batch_size=batch, image_size=size,
                                            augment="imagenet")[0]
    return {name: functools.partial(iter, ds.with_options(options)) for name, ds in pipelines.items()}


def measure(folder: Path, paths: list[str], size: int, batch: int, workers: int, rounds: int) -> dict[str, dict]:
    """Each candidate's best of ``rounds`` epochs, taken in turns; PyTorch's first (its workers must fork from a
    process without TensorFlow's threads), TensorFlow's after one untimed epoch that fills their cache."""
    import torch

    reference = torch.utils.data.DataLoader(paths, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers,
                                            collate_fn=functools.partial(_crops, size=size))
    runs = {"PyTorch + PIL": [_time_epoch(functools.partial(iter, reference)) for _ in range(rounds)]}
    epochs = tensorflow_candidates(folder, size, batch, workers)
    for epoch in epochs.values():
        _time_epoch(epoch)
    for _ in range(rounds):
        for name, epoch in epochs.items():
            runs.setdefault(name, []).append(_time_epoch(epoch))
    return {name: max(runs[name], key=lambda r: r["images_per_second"]) for name in [*epochs, "PyTorch + PIL"]}


def main(argv: list[str]) -> None:
    """Time the candidates of :data:`RUNS` (``--tiny``: the tiny one); print (and with --json write) them and
    "decode the crop"'s ratios to the others as JSON."""
    if len(argv) > 1:
        usage_error(PROG, f"unexpected arguments: {argv[1:]} (it takes --tiny and --json only)")
    run = RUNS["tiny" if FLAGS.tiny else "full"]
    with tempfile.TemporaryDirectory(prefix="jpeg_pipeline_") as folder:
        results = measure(Path(folder), write_photos(Path(folder), run["images"]), run["size"], run["batch"],
                          run["workers"], run["rounds"])
    new = results["decode the crop"]
    text = json.dumps({**run, "results": results, "decode_the_crop_over": {other: {
        "images_per_second": round(new["images_per_second"] / r["images_per_second"], 3),
        "cpu_per_image": round(new["cpu_ms_per_image"] / r["cpu_ms_per_image"], 3)}
        for other, r in results.items() if other != "decode the crop"}}, indent=2)
    print(text, flush=True)
    if FLAGS.json:
        with atomic_path(FLAGS.json) as partial:  # a reader never sees half a file
            Path(partial).write_text(text)


if __name__ == "__main__":  # flags defined here only: `python -m benchmarks` has a --tiny of its own
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    flags.DEFINE_bool("tiny", False, "Smoke run: 24 images, batches of 4, one round, one worker.")
    flags.DEFINE_string("json", None, "Also write the printed results to this JSON file.")
    app.run(main, flags_parser=flags_parser(PROG))
