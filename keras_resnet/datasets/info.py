"""What every dataset module shares: the names, constants and records of a dataset.

Standard library only (NumPy and TensorFlow types appear in annotations
only), so command lines can validate flags against them before importing
TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import tensorflow as tf

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SPLITS = ("train", "test")
AUGMENTATIONS = ("cifar", "imagenet", "none")
BAD_IMAGES = ("skip", "fail")  # what a run does with image files that cannot be decoded


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
    ``files``: for a folder of images, each split's files in record order
    (records are then their encoded bytes, which lets the pipeline decode
    only a JPEG's crop and a scan find the files that cannot be decoded).
    ``subset(split, indices)``: the records at ``indices`` (positions in the
    split, in that order) read directly, for a source that can (in-memory
    arrays, files); without it, a selection filters a pass over the split.
    """

    info: DatasetInfo
    read: Callable[[str], tf.data.Dataset]
    labels: Callable[[str], np.ndarray]
    decode: Callable[[tf.Tensor], tf.Tensor]
    record_bytes: int | None
    files: Mapping[str, Sequence[str]] | None = None
    subset: Callable[[str, np.ndarray], tf.data.Dataset] | None = None

