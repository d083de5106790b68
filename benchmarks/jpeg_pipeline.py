"""Images/s of the ImageNet-style training input pipeline on a folder of JPEG photos, side by side.

``python -m benchmarks.jpeg_pipeline [--tiny] [--json PATH]`` writes ``--images`` phone-like JPEGs of 500x375 (EXIF
on every file, one in ten stored sideways), then times one epoch of each candidate at ``--size`` px, in turns,
``--rounds`` times, and reports each one's best round (images/s) with the CPU time it used per image (all threads and
worker processes; steadier than wall-clock on a shared machine):

* ``decode only``: ``tf.io.decode_jpeg`` of every file, nothing else: the limit of any pipeline decoding whole images;
* ``decode, then crop``: :func:`keras_resnet.datasets.pipeline`, the random-resized crop taken from the decoded image;
* ``decode the crop``: the same pipeline as the training command line reads a folder: only the crop's window decoded
  (``tf.image.decode_and_crop_jpeg``);
* ``PyTorch + PIL``: a ``DataLoader`` with as many worker processes as tf.data has threads, each opening the file
  with PIL, turning it upright and taking torchvision's ``RandomResizedCrop`` (written here: torchvision does not
  import beside this torch), a bilinear resize and a random flip. It runs first, before TensorFlow is imported, so
  that its workers fork from a process without TensorFlow's threads.

With ``--scan_images N`` it also times :func:`keras_resnet.datasets.undecodable` on ``N`` JPEGs of 160x120 (files/s).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from absl import flags
from PIL import Image, ImageFilter, ImageOps

WIDTH, HEIGHT = 500, 375  # ImageNet's typical photo
SIDEWAYS_EVERY = 10  # one photo in ten stored sideways with EXIF orientation 6, as a phone held upright
SCALE, RATIO = (0.08, 1.0), (3 / 4, 4 / 3)  # the random-resized crop's area and aspect ranges

_FLAGS = flags.FlagValues()
flags.DEFINE_integer("images", 2000, "JPEG files written and read per epoch.", lower_bound=1, flag_values=_FLAGS)
flags.DEFINE_integer("size", 224, "Side of the training crops.", lower_bound=8, flag_values=_FLAGS)
flags.DEFINE_integer("batch", 64, "Batch size.", lower_bound=1, flag_values=_FLAGS)
flags.DEFINE_integer("workers", os.cpu_count() or 1, "tf.data threads and DataLoader worker processes.",
                     lower_bound=1, flag_values=_FLAGS)
flags.DEFINE_integer("rounds", 3, "Timed epochs per candidate (taken in turns; the best is reported).",
                     lower_bound=1, flag_values=_FLAGS)
flags.DEFINE_bool("tiny", False, "Smoke run: 24 images, batches of 4, one round, one worker.", flag_values=_FLAGS)
flags.DEFINE_integer("scan_images", 0, "Also time the scan for undecodable files on this many small JPEGs.",
                     lower_bound=0, flag_values=_FLAGS)
flags.DEFINE_string("json", None, "Also write the results to this JSON file.", flag_values=_FLAGS)


@dataclasses.dataclass(frozen=True)
class Result:
    """One candidate's best epoch: images per wall-clock second, and CPU milliseconds per image."""

    name: str
    images_per_second: float
    cpu_ms_per_image: float


def write_photos(folder: Path, count: int, seed: int = 0) -> list[str]:
    """``count`` JPEGs (quality 90) of blurred shapes on a gradient with sensor-like noise, in one class folder."""
    rng = np.random.default_rng(seed)
    (folder / "photos").mkdir(parents=True)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    paths = []
    for index in range(count):
        base = rng.uniform(0, 255, 3) + rng.uniform(-0.3, 0.3, 3) * x[..., None] + rng.uniform(-0.3, 0.3, 3) * y[
            ..., None]
        image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        canvas = image.copy()
        for _ in range(12):
            box = sorted(rng.integers(0, WIDTH, 2)), sorted(rng.integers(0, HEIGHT, 2))
            canvas.paste(tuple(int(v) for v in rng.integers(0, 256, 3)), (box[0][0], box[1][0], box[0][1], box[1][1]))
        canvas = canvas.filter(ImageFilter.GaussianBlur(2))
        pixels = np.asarray(canvas).astype(np.float32) + rng.normal(0, 6, (HEIGHT, WIDTH, 3))
        photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        tags = Image.Exif()
        tags[0x0112] = 6 if index % SIDEWAYS_EVERY == 0 else 1
        path = folder / "photos" / f"{index:05d}.jpg"
        photo.save(path, "JPEG", quality=90, exif=tags.tobytes())
        paths.append(str(path))
    return paths


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _time_epoch(name: str, epoch: Callable[[], Iterable], images: int) -> Result:
    start, cpu = time.perf_counter(), _cpu_seconds()
    for _ in epoch():
        pass
    wall, used = time.perf_counter() - start, _cpu_seconds() - cpu
    return Result(name, images / wall, 1000 * used / images)


# --- the PyTorch + PIL reference ---------------------------------------------------------------------------

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


class _PhotoDataset:
    """``torch.utils.data.Dataset`` protocol: a random-resized, randomly flipped crop of each photo."""

    def __init__(self, paths: list[str], size: int) -> None:
        self.paths, self.size = paths, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> object:
        import torch

        with Image.open(self.paths[index]) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        crop = image.resize((self.size, self.size), Image.Resampling.BILINEAR, box=random_resized_crop_box(*image.size))
        if random.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.array(crop)), 0  # a writable copy, as torchvision's pil_to_tensor makes


def torch_reference(paths: list[str], size: int, batch: int, workers: int) -> Callable[[], Iterable]:
    import torch

    loader = torch.utils.data.DataLoader(_PhotoDataset(paths, size), batch_size=batch, shuffle=True,
                                         drop_last=True, num_workers=workers)
    return lambda: iter(loader)


# --- the TensorFlow candidates ------------------------------------------------------------------------------

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

    decode_only = (source.read("train").cache().map(decode, num_parallel_calls=tf.data.AUTOTUNE)
                   .batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE).with_options(options))
    pipelines = {"decode only": decode_only}
    for name, candidate in (("decode, then crop", whole_images), ("decode the crop", source)):
        pipelines[name] = datasets.pipeline(candidate, "train", training=True, batch_size=batch, image_size=size,
                                            augment="imagenet")[0].with_options(options)
    return {name: (lambda ds=ds: iter(ds)) for name, ds in pipelines.items()}


def measure(folder: Path, paths: list[str], size: int, batch: int, workers: int, rounds: int) -> list[Result]:
    """The best of ``rounds`` epochs of every candidate, taken in turns (PyTorch's first, before TensorFlow)."""
    epochs = {"PyTorch + PIL": torch_reference(paths, size, batch, workers)}
    images = {"PyTorch + PIL": len(paths) // batch * batch}
    best: dict[str, Result] = {}

    def keep(result: Result) -> None:
        if result.name not in best or result.images_per_second > best[result.name].images_per_second:
            best[result.name] = result

    for _ in range(rounds):  # before TensorFlow: its workers must fork from a process without its threads
        keep(_time_epoch("PyTorch + PIL", epochs["PyTorch + PIL"], images["PyTorch + PIL"]))
    tensorflow = tensorflow_candidates(folder, size, batch, workers)
    for name, epoch in tensorflow.items():
        images[name] = sum(len(b[0]) if isinstance(b, tuple) else len(b) for b in epoch())  # warm-up fills the cache
    for _ in range(rounds):
        for name, epoch in tensorflow.items():
            keep(_time_epoch(name, epoch, images[name]))
    return [best[name] for name in ("decode only", "decode, then crop", "decode the crop", "PyTorch + PIL")]


def scan_speed(folder: Path, count: int) -> float:
    """Files/s of the scan for undecodable files over ``count`` JPEGs of 160x120 (what a phone's thumbnails
    or a web scrape hold), written to ``folder``."""
    rng = np.random.default_rng(1)
    paths = []
    for index in range(count):
        pixels = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)  # a smooth picture, upscaled
        path = folder / f"class_{index % 10}" / f"{index:05d}.jpg"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(pixels).resize((160, 120), Image.Resampling.BICUBIC).save(path, "JPEG", quality=90)
        paths.append(str(path))
    from keras_resnet import datasets

    datasets.undecodable(paths[:64])  # builds the tf.data function once
    start = time.perf_counter()
    bad = datasets.undecodable(paths)
    if bad:
        raise RuntimeError(f"the scan rejected {len(bad)} good files, e.g. {bad[0]}")
    return count / (time.perf_counter() - start)


def report(results: list[Result], workers: int) -> str:
    by_name = {r.name: r for r in results}
    lines = [f"{'candidate':<20} {'images/s':>9} {'CPU ms/image':>13}   ({workers} tf.data threads / workers)"]
    lines += [f"{r.name:<20} {r.images_per_second:>9.1f} {r.cpu_ms_per_image:>13.2f}" for r in results]
    new = by_name["decode the crop"]
    for other, target in (("PyTorch + PIL", 1.5), ("decode only", 0.8), ("decode, then crop", None)):
        ratio = new.images_per_second / by_name[other].images_per_second
        cpu = by_name[other].cpu_ms_per_image / new.cpu_ms_per_image
        goal = f" (target >= {target}: {'met' if ratio >= target else 'NOT met'})" if target else ""
        lines.append(f"decode the crop / {other}: {ratio:.2f}x images/s, {cpu:.2f}x less CPU per image{goal}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run with the parsed flags; print the table and ratios (and write ``--json``)."""
    del argv
    count, batch, rounds, workers = (24, 4, 1, 1) if _FLAGS.tiny else (_FLAGS.images, _FLAGS.batch, _FLAGS.rounds,
                                                                        _FLAGS.workers)
    if count < 2 * batch + 1:
        print(f"error: --images must exceed two batches of --batch={batch}; received --images={count}",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="input_pipeline_") as folder:
        start = time.perf_counter()
        paths = write_photos(Path(folder), count)
        kilobytes = sum(os.path.getsize(p) for p in paths) / 1e3 / count
        print(f"{count} JPEGs of {WIDTH}x{HEIGHT} ({kilobytes:.0f} kB each) written in "
              f"{time.perf_counter() - start:.0f} s; crops of {_FLAGS.size} px, batches of {batch}", flush=True)
        results = measure(Path(folder), paths, _FLAGS.size, batch, workers, rounds)
    print(report(results, workers), flush=True)
    scan = None
    if _FLAGS.scan_images:
        with tempfile.TemporaryDirectory(prefix="scan_") as folder:
            scan = scan_speed(Path(folder), _FLAGS.scan_images)
        print(f"scan for undecodable files: {scan:.0f} files/s over {_FLAGS.scan_images} JPEGs of 160x120", flush=True)
    if _FLAGS.json:
        Path(_FLAGS.json).write_text(json.dumps({"images": count, "size": _FLAGS.size, "batch": batch,
                                                 "workers": workers, "scan_files_per_second": scan,
                                                 "results": [dataclasses.asdict(r) for r in results]}, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        arguments = _FLAGS(sys.argv)
    except flags.Error as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(arguments))
