"""The local data sources: Fashion-MNIST's IDX files and folders of class sub-folders of images
(:mod:`keras_resnet.datasets.folders`).

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

from keras_resnet.datasets.folders import folder_source
from keras_resnet.datasets.info import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, SPLITS, DatasetInfo, Source
from keras_resnet.datasets.tfds_source import tfds_source

_IDX_PREFIX = {"train": "train", "test": "t10k"}


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
        subset=lambda split, indices: tf.data.Dataset.from_tensor_slices(
            tuple(array[indices] for array in arrays[split])),
    )


def load(name: str, data_dir: str | None = None, *, validation_split: float | None = None, seed: int = 0) -> Source:
    """Resolve ``name`` to a :class:`Source`.

    Args:
        name: ``"fashion_mnist"``, a tensorflow-datasets name, or a folder of
            class sub-folders of images (see :mod:`keras_resnet.datasets.folders`).
        data_dir: For ``fashion_mnist``, a folder with the four IDX files
            (default: Debian's ``/usr/share/datasets/fashion-mnist``); for
            tensorflow-datasets, its ``data_dir``.
        validation_split: For a folder, the fraction of each class's
            training images held out for validation, drawn from ``seed``
            (``None``: 10 % of a folder without ``val/`` or ``test/``, else none).

    Raises:
        ValueError: Unknown name or unusable folder.
        DatasetUnavailableError: Known dataset that cannot be read or fetched.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`dataset` must be a non-empty string; received dataset={name!r}")
    if os.path.isdir(name):
        return folder_source(Path(name), validation_split, seed)
    if validation_split is not None:
        raise ValueError(f"`validation_split` holds images out of a folder of images; {name!r} is not a folder "
                         "(its own test split validates)")
    if name == "fashion_mnist":
        folder = next((d for d in (data_dir, FASHION_MNIST_DIR) if _has_idx_files(d)), None)
        if folder:
            return _idx_source(folder)
    return tfds_source(name, data_dir)

