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
  optionally split as ``root/train/<class>/...``, ``root/val/<class>/...``
  and ``root/test/<class>/...``, else split by class with a seed; photos in
  every format TensorFlow decodes, upright as their EXIF orientation says,
  with the files that cannot be decoded found before training
  (:mod:`~keras_resnet.datasets.folders`, :mod:`~keras_resnet.datasets.scan`).

The pipeline turns grayscale images into 3 channels, brings images to the
net's input size (28x28 is zero-padded to 32x32; larger images are resized
and center-cropped) and augments in ``tf.data`` with stateless ops seeded per
example, so a run is reproducible with its seed:

* ``"cifar"`` (paper §4.2): 4-pixel zero padding, random crop, horizontal flip;
* ``"imagenet"`` (paper §3.4): random-resized crop (scale 8-100 %, aspect
  3/4-4/3; the common stand-in for the paper's shorter side in [256, 480]) and
  flip; evaluation resizes the shorter side to ``size / 0.875`` (256 for 224)
  and takes the center crop.

Images leave the pipeline as RGB in [0, 255] (uint8 in training batches, float32 in evaluation
ones; the model casts). The per-pixel mean
subtraction of §3.4/§4.2 happens inside the model, in a ``Normalization``
layer built by :func:`normalization_layer` from :func:`pixel_stats`, so a
saved model takes raw pixels.

Modules: :mod:`~keras_resnet.datasets.info` (names, records),
:mod:`~keras_resnet.datasets.sources`, :mod:`~keras_resnet.datasets.folders` and
:mod:`~keras_resnet.datasets.tfds_source` (reading), :mod:`~keras_resnet.datasets.scan`
(undecodable files), :mod:`~keras_resnet.datasets.transforms` (per image),
:mod:`~keras_resnet.datasets.input_pipeline` (selection, shuffling, batches),
:mod:`~keras_resnet.datasets.stats` (the mean image inside the model).
"""

from __future__ import annotations

from keras_resnet._lazy import exports
from keras_resnet.datasets.info import (
    AUGMENTATIONS,
    BAD_IMAGES,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    SPLITS,
    DatasetInfo,
    DatasetUnavailableError,
    Source,
)

# Public names of the modules that import TensorFlow, loaded on first use so that command lines can check
# their flags (against the constants above) before that import.
_LAZY = {
    "sources": ("load", "read_idx"),
    "folders": ("DEFAULT_VALIDATION_SPLIT", "IMAGE_SUFFIXES", "class_counts_table", "files_source", "folder_source",
                "stratified_split"),
    "scan": ("BAD_IMAGES_FILE", "drop_undecodable", "undecodable"),
    "tfds_source": ("CONNECT_TIMEOUT",),
    "transforms": ("CIFAR_PAD",),
    "input_pipeline": ("CACHE_BYTES", "SHUFFLE_BUFFER", "balanced_class_weight", "class_counts", "examples",
                       "fit_to_size", "load_arrays", "pipeline", "select", "to_rgb"),
    "stats": ("STATS_EXAMPLES", "normalization_layer", "pixel_stats"),
}
__getattr__, __dir__, _LAZY_NAMES = exports(__name__, _LAZY, globals())

__all__ = ["AUGMENTATIONS", "BAD_IMAGES", "FASHION_MNIST_CLASSES", "FASHION_MNIST_DIR", "SPLITS", "DatasetInfo",
           "DatasetUnavailableError", "Source", *_LAZY_NAMES]
