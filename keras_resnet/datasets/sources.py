"""The local data sources: Fashion-MNIST's IDX files and folders of class sub-folders of images.

:func:`load` resolves a dataset name to a :class:`~keras_resnet.datasets.info.Source`
(tensorflow-datasets names through :mod:`keras_resnet.datasets.tfds_source`).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_resnet.datasets.info import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, SPLITS, DatasetInfo, Source
from keras_resnet.datasets.tfds_source import tfds_source

_IDX_PREFIX = {"train": "train", "test": "t10k"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


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
    return tfds_source(name, data_dir)

