"""Datasets and ``tf.data`` input pipelines for training and evaluation.

Three kinds of source, one pipeline:

* ``"fashion_mnist"``, the embedded default: the real Fashion-MNIST IDX files
  of Debian's ``dataset-fashion-mnist`` package (or any folder holding the
  four ``*-ubyte.gz`` files), else tensorflow-datasets' ``fashion_mnist``;
* any tensorflow-datasets name (``"cifar10"``, ``"imagenet2012"`` ...), read
  from ``data_dir``; a dataset that is not prepared there is downloaded only
  after a quick reachability check, so an offline machine fails in seconds
  with a clear message instead of retrying for minutes;
* a local folder of class sub-folders of images (``root/<class>/<image>``),
  optionally split as ``root/train/<class>/...`` and ``root/test/<class>/...``.

The pipeline turns grayscale images into 3 channels, brings images to the
net's input size (28x28 is zero-padded to 32x32; larger images are resized
and center-cropped) and augments in ``tf.data`` with stateless ops seeded per
example, so a run is reproducible with its seed:

* ``"cifar"`` (paper §4.2): 4-pixel zero padding, random crop, horizontal flip;
* ``"imagenet"`` (paper §3.4): random-resized crop (scale 8-100 %, aspect
  3/4-4/3; the common stand-in for the paper's shorter side in [256, 480]) and
  flip; evaluation resizes the shorter side to ``size / 0.875`` (256 for 224)
  and takes the center crop.

Images leave the pipeline as float32 RGB in [0, 255]. The per-pixel mean
subtraction of §3.4/§4.2 happens inside the model, in a ``Normalization``
layer built by :func:`normalization_layer` from :func:`pixel_stats`, so a
saved model takes raw pixels.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import gzip
import os
import socket
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.preprocessing import fit_to_size, to_rgb  # the one evaluation/serving transform

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_IDX_PREFIX = {"train": "train", "test": "t10k"}

SPLITS = ("train", "test")
AUGMENTATIONS = ("cifar", "imagenet", "none")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

CIFAR_PAD = 4          # §4.2: "4 pixels are padded on each side"
CACHE_BYTES = 1 << 30  # cache (and permute whole) a split whose records take at most this much
STATS_EXAMPLES = 50_000  # images averaged for the mean image
SHUFFLE_BUFFER = 10_000  # for datasets too large to permute in memory
CONNECT_TIMEOUT = 5.0


class DatasetUnavailableError(RuntimeError):
    """The dataset exists but cannot be read or fetched here (e.g. offline)."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a training or evaluation run needs to know about a dataset.

    Attributes:
        name: Dataset name or folder path as given.
        class_names: Name of each class, in label order.
        image_shape: Native ``(height, width, channels)``; ``None`` sides vary.
        num_examples: Examples in each split (``"train"``, ``"test"``).
    """

    name: str
    class_names: tuple[str, ...]
    image_shape: tuple[int | None, int | None, int]
    num_examples: dict[str, int]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclasses.dataclass(frozen=True)
class Source:
    """A dataset: its info, and how to read records and labels of a split.

    ``read(split)`` gives a ``tf.data.Dataset`` of ``(record, label)`` in a
    fixed order; ``decode`` turns a record into a uint8 ``(H, W, C)`` image
    (identity when records are images already); ``labels(split)`` returns the
    split's labels as NumPy without decoding images; ``record_bytes`` sizes a
    record for the in-memory cache decision (``None``: unknown, no cache).
    """

    info: DatasetInfo
    read: Callable[[str], tf.data.Dataset]
    labels: Callable[[str], np.ndarray]
    decode: Callable[[tf.Tensor], tf.Tensor]
    record_bytes: int | None


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}; received split={split!r}")


# --- Fashion-MNIST from IDX files -----------------------------------------------------------

def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes (the MNIST / Fashion-MNIST format)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    array = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: header says {dims}, found {array.size} values")
    return array.reshape(dims)


def _idx_files(folder: str, split: str) -> tuple[Path, Path]:
    prefix = _IDX_PREFIX[split]
    root = Path(folder)
    return root / f"{prefix}-images-idx3-ubyte.gz", root / f"{prefix}-labels-idx1-ubyte.gz"


def _has_idx_files(folder: str | None) -> bool:
    return bool(folder) and all(p.is_file() for s in SPLITS for p in _idx_files(folder, s))


def _idx_source(folder: str) -> Source:
    arrays = {}
    for split in SPLITS:
        images, labels = (read_idx(p) for p in _idx_files(folder, split))
        arrays[split] = (images[..., None], labels.astype(np.int64))
    info = DatasetInfo("fashion_mnist", FASHION_MNIST_CLASSES, (28, 28, 1),
                       {s: len(a[1]) for s, a in arrays.items()})
    return Source(
        info=info,
        read=lambda split: tf.data.Dataset.from_tensor_slices(arrays[split]),
        labels=lambda split: arrays[split][1],
        decode=lambda image: image,
        record_bytes=28 * 28,
    )


# --- tensorflow-datasets ---------------------------------------------------------------------

def _reachable(host: str, port: int) -> bool:
    """DNS lookup and TCP connect within ``CONNECT_TIMEOUT`` (DNS has no timeout of its own)."""
    def connect() -> None:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(connect).result(timeout=CONNECT_TIMEOUT)
        return True
    except (OSError, concurrent.futures.TimeoutError):
        return False
    finally:
        pool.shutdown(wait=False)


def _download_hosts(builder: Any) -> set[tuple[str, int]]:
    try:
        urls = list(builder.url_infos or ())
    except Exception:  # noqa: BLE001 - url_infos needs optional packages; tfds will say what is missing
        return set()
    hosts = set()
    for url in urls:
        parsed = urlparse(url)
        if parsed.hostname:
            hosts.add((parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)))
    return hosts


def _prepare_tfds(builder: Any, name: str, data_dir: str | None) -> None:
    where = data_dir or "tensorflow-datasets' default data_dir (~/tensorflow_datasets)"
    how = (f"Prepare it on a machine with internet access (`tfds build {name} --data_dir DIR`), "
           "copy DIR here and pass it as `data_dir` (--data_dir).")
    if not builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        unreachable = sorted(h for h, p in _download_hosts(builder) if not _reachable(h, p))
        if unreachable:
            raise DatasetUnavailableError(
                f"Dataset {name!r} is not prepared in {where} and cannot be downloaded: "
                f"{', '.join(unreachable)} is unreachable (offline?). {how}"
            )
    try:
        builder.download_and_prepare()
    except Exception as err:  # noqa: BLE001 - tfds raises many kinds; all mean "not available"
        raise DatasetUnavailableError(
            f"Dataset {name!r} is not prepared in {where} and preparing it failed: "
            f"{type(err).__name__}: {err}. {how}"
        ) from err


def _tfds_source(name: str, data_dir: str | None) -> Source:
    import tensorflow_datasets as tfds  # slow import: only when needed

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as err:
        raise ValueError(
            "`dataset` must be 'fashion_mnist', a tensorflow-datasets name (e.g. 'cifar10') or an "
            f"existing folder of class sub-folders; received dataset={name!r}"
        ) from err
    if not builder.is_prepared():
        _prepare_tfds(builder, name, data_dir)
    image_key, label_key = builder.info.supervised_keys or ("image", "label")
    splits = builder.info.splits
    split_names = {"train": "train", "test": "test" if "test" in splits else "validation"}
    if any(s not in splits for s in split_names.values()):
        raise ValueError(f"tensorflow-datasets {name!r} has splits {sorted(splits)}; need 'train' and "
                         "'test' or 'validation'")
    feature = builder.info.features[image_key]
    label_feature = builder.info.features[label_key]
    shape = tuple(feature.shape)
    fixed = all(d is not None for d in shape)

    def read(split: str) -> tf.data.Dataset:
        return builder.as_dataset(split=split_names[split], as_supervised=True, shuffle_files=False)

    def labels(split: str) -> np.ndarray:
        ds = builder.as_dataset(split=split_names[split], shuffle_files=False,
                                decoders={image_key: tfds.decode.SkipDecoding()})
        return np.concatenate(list(ds.map(lambda ex: ex[label_key]).batch(8192).as_numpy_iterator()))

    info = DatasetInfo(name, tuple(label_feature.names), shape,
                       {s: splits[n].num_examples for s, n in split_names.items()})
    return Source(info, read, labels, lambda image: image, int(np.prod(shape)) if fixed else None)


# --- image folders ---------------------------------------------------------------------------

def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _folder_source(root: Path) -> Source:
    """Class sub-folders; ``train/`` and ``test/`` (or ``val/``, ``validation/``) if present,
    else every 10th image of each class (in name order) is held out as the test split."""
    held_out = next((root / d for d in ("test", "val", "validation") if (root / d).is_dir()), None)
    tops = {"train": root / "train", "test": held_out} if (root / "train").is_dir() and held_out else None
    class_names = tuple(p.name for p in _class_dirs(tops["train"] if tops else root))
    if not class_names:
        raise ValueError(f"`dataset` folder {str(root)!r} has no class sub-folders of images")
    files: dict[str, list[str]] = {s: [] for s in SPLITS}
    labels: dict[str, list[int]] = {s: [] for s in SPLITS}
    for label, cls in enumerate(class_names):
        if tops:
            per_split = {s: _images_in(tops[s] / cls) if (tops[s] / cls).is_dir() else [] for s in SPLITS}
        else:
            images = _images_in(root / cls)
            per_split = {"train": [f for i, f in enumerate(images) if i % 10 != 9],
                         "test": [f for i, f in enumerate(images) if i % 10 == 9]}
        for split, paths in per_split.items():
            files[split] += paths
            labels[split] += [label] * len(paths)
    if not files["train"] or not files["test"]:
        raise ValueError(f"`dataset` folder {str(root)!r} needs images ({', '.join(IMAGE_SUFFIXES)}) in "
                         "both its train and test splits")
    sizes = [os.path.getsize(f) for s in SPLITS for f in files[s]]
    label_arrays = {s: np.asarray(labels[s], np.int64) for s in SPLITS}

    def decode(data: tf.Tensor) -> tf.Tensor:
        return tf.io.decode_image(data, channels=3, expand_animations=False)

    return Source(
        info=DatasetInfo(str(root), class_names, (None, None, 3), {s: len(files[s]) for s in SPLITS}),
        read=lambda split: tf.data.Dataset.from_tensor_slices((files[split], label_arrays[split])).map(
            lambda path, label: (tf.io.read_file(path), label)),
        labels=lambda split: label_arrays[split],
        decode=decode,
        record_bytes=int(np.mean(sizes)),
    )


def load(name: str, data_dir: str | None = None) -> Source:
    """Resolve ``name`` to a :class:`Source`.

    Args:
        name: ``"fashion_mnist"``, a tensorflow-datasets name, or a folder of
            class sub-folders of images.
        data_dir: For ``fashion_mnist``, a folder with the four IDX files
            (default: Debian's ``/usr/share/datasets/fashion-mnist``); for
            tensorflow-datasets, its ``data_dir``.

    Raises:
        ValueError: Unknown name or unusable folder.
        DatasetUnavailableError: Known dataset that cannot be read or fetched.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`dataset` must be a non-empty string; received dataset={name!r}")
    if os.path.isdir(name):
        return _folder_source(Path(name))
    if name == "fashion_mnist":
        folder = next((d for d in (data_dir, FASHION_MNIST_DIR) if _has_idx_files(d)), None)
        if folder:
            return _idx_source(folder)
    return _tfds_source(name, data_dir)


# --- selection, transforms, pipeline ---------------------------------------------------------

def select(labels: np.ndarray, classes: Sequence[int] | None = None, examples_per_class: int | None = None,
           limit: int | None = None) -> np.ndarray:
    """Indices of the examples kept, in dataset order: only ``classes`` (if
    given), the first ``examples_per_class`` of each, then the first ``limit``."""
    keep = np.arange(len(labels))
    if classes is not None:
        keep = keep[np.isin(labels, np.asarray(classes))]
    if examples_per_class is not None:
        seen: dict[int, int] = {}
        mask = []
        for label in labels[keep]:
            seen[label] = seen.get(label, 0) + 1
            mask.append(seen[label] <= examples_per_class)
        keep = keep[np.asarray(mask, bool)] if mask else keep
    return keep if limit is None else keep[:limit]


def _check_selection(info: DatasetInfo, classes: Sequence[int] | None, examples_per_class: int | None,
                     limit: int | None) -> None:
    if classes is not None:
        bad = [c for c in classes if not isinstance(c, (int, np.integer)) or not 0 <= c < info.num_classes]
        if bad or not classes or len(set(classes)) != len(classes):
            raise ValueError(f"`classes` must be distinct labels in 0..{info.num_classes - 1} of "
                             f"{info.name!r}; received classes={classes!r}")
    for flag, value in (("examples_per_class", examples_per_class), ("limit", limit)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"`{flag}` must be a positive integer or None; received {flag}={value!r}")


def _records(source: Source, split: str, classes: Sequence[int] | None, examples_per_class: int | None,
             limit: int | None) -> tuple[tf.data.Dataset, int, bool]:
    """Undecoded ``(record, label)`` of the selected examples in a fixed
    order, their count, and whether they are cached in memory (when they fit
    in :data:`CACHE_BYTES`)."""
    _check_split(split)
    _check_selection(source.info, classes, examples_per_class, limit)
    ds = source.read(split)
    if classes is None and examples_per_class is None:
        count = source.info.num_examples[split] if limit is None else min(limit, source.info.num_examples[split])
        ds = ds.take(count)
    else:
        labels = source.labels(split)
        keep = np.zeros(len(labels), bool)
        indices = select(labels, classes, examples_per_class, limit)
        keep[indices] = True
        count = len(indices)
        ds = ds.enumerate().filter(lambda index, _: tf.gather(keep, index))
        ds = ds.map(lambda _, example: example)
        if classes is not None:
            remap = np.full(max(source.info.num_classes, max(classes) + 1), -1, np.int64)
            remap[np.asarray(classes)] = np.arange(len(classes))
            ds = ds.map(lambda record, label: (record, tf.gather(remap, label)))
    if count == 0:
        raise ValueError(f"No {split} examples of {source.info.name!r} left after selecting classes={classes!r}, "
                         f"examples_per_class={examples_per_class!r}, limit={limit!r}")
    in_memory = source.record_bytes is not None and count * source.record_bytes <= CACHE_BYTES
    if in_memory:
        ds = ds.cache()
    return ds.apply(tf.data.experimental.assert_cardinality(count)), count, in_memory


def examples(source: Source, split: str, classes: Sequence[int] | None = None,
             examples_per_class: int | None = None, limit: int | None = None) -> tuple[tf.data.Dataset, int]:
    """Decoded ``(uint8 image, int64 label)`` examples of a split, in a fixed
    order, and their count. With ``classes``, labels become positions in
    ``classes`` (``classes=(5, 6)`` maps label 5 to 0 and 6 to 1); then the
    first ``examples_per_class`` of each class, then the first ``limit``."""
    ds, count, _ = _records(source, split, classes, examples_per_class, limit)
    return ds.map(lambda record, label: (source.decode(record), label), num_parallel_calls=tf.data.AUTOTUNE), count


def _cifar_augment(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """§4.2: pad 4 pixels on each side, random ``size`` crop, random horizontal flip."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = fit_to_size(image, size)
    image = tf.image.resize_with_crop_or_pad(image, size + 2 * CIFAR_PAD, size + 2 * CIFAR_PAD)
    image = tf.image.stateless_random_crop(image, (size, size, image.shape[-1]), crop_seed)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def _imagenet_augment(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """§3.4 scale augmentation as random-resized crop (8-100 % area, aspect 3/4-4/3) + flip."""
    box_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), tf.zeros((1, 0, 4)), box_seed, min_object_covered=0.0,
        aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    image = tf.slice(image, begin, extent)
    image = tf.image.resize(image, (size, size), antialias=True)
    image = tf.ensure_shape(image, (size, size, image.shape[-1]))
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def _epochs(ds: tf.data.Dataset, count: int, in_memory: bool, seed: int, epoch: tf.Variable | None
            ) -> tf.data.Dataset:
    """``(record, label, per-example seed)`` for one training epoch, shuffled.

    In-memory records are permuted whole, and the per-example augmentation
    seeds derived, from ``(seed, epoch)`` with stateless ops; ``epoch`` is
    read when an iterator is created (without it, each new iterator counts as
    the next epoch). Larger datasets stream through a shuffle buffer of
    :data:`SHUFFLE_BUFFER`, reshuffled each iteration from ``seed``.
    """
    counter = epoch if epoch is not None else tf.Variable(-1, dtype=tf.int64, trainable=False)
    # Created here, once, so that its shuffle order advances from one iteration to the next.
    streamed = None if in_memory else ds.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)

    def one_epoch(_: tf.Tensor) -> tf.data.Dataset:
        current = counter.read_value() if epoch is not None else counter.assign_add(1)
        epoch_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(current, tf.int64)])
        shuffled = streamed
        if in_memory:
            records, labels = ds.batch(count).get_single_element()
            order = tf.argsort(tf.random.stateless_uniform([count], epoch_seed))
            shuffled = tf.data.Dataset.from_tensor_slices((tf.gather(records, order), tf.gather(labels, order)))
        return shuffled.enumerate().map(
            lambda index, example: (*example, tf.random.experimental.stateless_fold_in(epoch_seed, index)))

    return tf.data.Dataset.range(1).flat_map(one_epoch)


def pipeline(source: Source, split: str, *, training: bool, batch_size: int, image_size: int,
             augment: str = "cifar", seed: int = 0, classes: Sequence[int] | None = None,
             examples_per_class: int | None = None, limit: int | None = None,
             epoch: tf.Variable | None = None) -> tuple[tf.data.Dataset, int]:
    """Batched ``(float32 RGB image in [0, 255], int64 label)`` and the example count.

    Training: shuffle, augmentation ``augment`` (one of
    :data:`AUGMENTATIONS`) and ``drop_remainder`` batches, all a function of
    ``seed`` and the epoch: pass ``epoch``, an int64 ``tf.Variable`` set to
    the epoch number before each epoch's iterator is created (as
    :func:`keras_resnet.training.fit` does), and the order no longer depends
    on how often the dataset was iterated (resumed runs, distribution
    strategies that peek at a batch). Evaluation: :func:`fit_to_size` only,
    all examples, in order. Maps run in parallel; batches are prefetched.
    """
    if augment not in AUGMENTATIONS:
        raise ValueError(f"`augment` must be one of {AUGMENTATIONS}; received augment={augment!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer; received batch_size={batch_size!r}")
    ds, count, in_memory = _records(source, split, classes, examples_per_class, limit)
    if training and count < batch_size:
        raise ValueError(f"{count} {split} examples are fewer than one batch of {batch_size}; lower the batch "
                         "size or select more examples")
    if training:
        transform = {"cifar": _cifar_augment, "imagenet": _imagenet_augment,
                     "none": lambda image, size, _: fit_to_size(image, size)}[augment]
        ds = _epochs(ds, count, in_memory, seed, epoch).map(
            lambda record, label, s: (transform(to_rgb(source.decode(record)), image_size, s), label),
            num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size, drop_remainder=True)
        ds = ds.apply(tf.data.experimental.assert_cardinality(count // batch_size))
    else:
        ds = ds.map(lambda record, label: (fit_to_size(to_rgb(source.decode(record)), image_size), label),
                    num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size)
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options), count


def pixel_stats(source: Source, image_size: int, classes: Sequence[int] | None = None,
                examples_per_class: int | None = None, limit: int | None = None) -> tuple[np.ndarray, float]:
    """Per-pixel mean image (§4.2 / §3.4) and overall pixel std of the
    training split at the net's input size (at most :data:`STATS_EXAMPLES`)."""
    limit = min(limit or STATS_EXAMPLES, STATS_EXAMPLES)
    ds, count = pipeline(source, "train", training=False, batch_size=1024, image_size=image_size,
                         classes=classes, examples_per_class=examples_per_class, limit=limit)
    total = np.zeros((image_size, image_size, 3))
    squares = 0.0
    for images, _ in ds.as_numpy_iterator():
        images = images.astype(np.float64)
        total += images.sum(axis=0)
        squares += float(np.square(images).sum())
    mean = total / count
    variance = squares / (count * mean.size) - float(np.square(mean).mean())
    return mean.astype(np.float32), float(np.sqrt(max(variance, 1e-12)))


def normalization_layer(mean: np.ndarray | Sequence[float], std: float | Sequence[float],
                        name: str = "preprocess") -> keras.layers.Normalization:
    """``(x - mean) / std`` as the model's first layer: a per-pixel mean image
    of shape ``(H, W, 3)`` (and a scalar std), or per-channel values."""
    mean = np.asarray(mean, np.float32)
    variance = np.broadcast_to(np.square(np.asarray(std, np.float32)), mean.shape)
    axis = (1, 2, 3) if mean.ndim == 3 else -1
    return keras.layers.Normalization(axis=axis, mean=mean, variance=np.array(variance), name=name)


def load_arrays(name: str = "fashion_mnist", split: str = "test", limit: int | None = 256,
                data_dir: str | None = None, image_size: int = 32,
                classes: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A small NumPy batch for calibration or checks: the first ``limit``
    examples of ``split`` as float32 RGB ``(N, image_size, image_size, 3)`` in
    [0, 255] (what a model trained here takes) and int64 labels."""
    source = load(name, data_dir)
    ds, _ = pipeline(source, split, training=False, batch_size=1024, image_size=image_size,
                     classes=classes, limit=limit)
    batches = list(ds.as_numpy_iterator())
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
