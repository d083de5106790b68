"""Calibration, fine-tuning and evaluation data, and class names.

Data is the model's own input: float images already preprocessed as the model
was trained (shape ``(n, *model input)``), with integer labels. It comes as
an ``(x, y)`` pair of arrays, an ``x`` array alone (calibration without
QAT), or the path of a ``.npz`` file holding arrays ``x`` and, optionally,
``y``; or, for models trained with ``keras_resnet``, from a dataset name
(:func:`dataset_data`: prepared by the serving signature's own steps).
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from export.errors import ExportError
from export.serving_preprocessing import Preprocessing

if TYPE_CHECKING:
    from keras_resnet.datasets import Source

DataSource = tuple[np.ndarray, np.ndarray | None] | np.ndarray | str | os.PathLike


@dataclasses.dataclass(frozen=True)
class Data:
    """Model-ready images ``x`` (float32) and their integer labels ``y`` (or ``None``)."""

    x: np.ndarray
    y: np.ndarray | None

    def __len__(self) -> int:
        return len(self.x)

    def take(self, count: int, seed: int) -> Data:
        """A random subset of ``count`` samples (all of them, shuffled, if ``count`` >= len)."""
        order = np.random.default_rng(seed).permutation(len(self.x))[:count]
        return Data(self.x[order], None if self.y is None else self.y[order])


def _read_npz(argument: str, path: Path) -> tuple[Any, Any]:
    if not path.is_file():
        raise ExportError(argument, f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ExportError(argument, f"cannot read {path} as a .npz file: {exc}") from exc
    if "x" not in arrays:
        raise ExportError(argument, f"{path} has no array 'x' (found {sorted(arrays)})")
    return arrays["x"], arrays.get("y")


def _check_x(argument: str, x: Any, image_shape: tuple[int, int, int]) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise ExportError(argument, f"images must be floats preprocessed as for training; received dtype {x.dtype}")
    if x.ndim != 4 or x.shape[1:] != tuple(image_shape):
        raise ExportError(argument, f"images must have shape (n, {', '.join(map(str, image_shape))}) (the model's "
                          f"input); received {x.shape}")
    if len(x) == 0:
        raise ExportError(argument, "no images")
    if not np.isfinite(x).all():
        raise ExportError(argument, "images contain NaN or infinity")
    return x.astype(np.float32, copy=False)


def _check_y(argument: str, y: Any, count: int, classes: int) -> np.ndarray:
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.integer) or y.shape != (count,):
        raise ExportError(
            argument, f"labels must be {count} integers, one per image; received dtype {y.dtype}, shape {y.shape}"
        )
    if y.min() < 0 or y.max() >= classes:
        raise ExportError(argument, f"labels must lie in [0, {classes}); received [{y.min()}, {y.max()}]")
    return y.astype(np.int64, copy=False)


def load_data(
    argument: str,
    source: DataSource | None,
    image_shape: tuple[int, int, int],
    classes: int,
    need_labels: bool,
    required_for: str,
) -> Data | None:
    """Validate ``source`` against the model; ``None`` stays ``None`` unless ``required_for`` needs it.

    Args:
        argument: The argument's name, used in error messages.
        source: ``(x, y)``, ``x``, a ``.npz`` path or ``None``.
        image_shape: The model's ``(height, width, channels)``.
        classes: Number of classes (labels must lie in ``[0, classes)``).
        need_labels: Whether labels are required.
        required_for: Why the data is needed, or ``""`` when it is optional.
    """
    if source is None:
        if required_for:
            raise ExportError(argument, f"required for {required_for}")
        return None
    if isinstance(source, (str, os.PathLike)):
        x, y = _read_npz(argument, Path(source))
    elif isinstance(source, tuple) and len(source) == 2:
        x, y = source
    else:
        x, y = source, None
    x = _check_x(argument, x, image_shape)
    if y is None and need_labels:
        raise ExportError(argument, f"labels (y) are required for {required_for}")
    return Data(x, None if y is None else _check_y(argument, y, len(x), classes))


def load_labels(labels: Sequence[str] | str | os.PathLike | None, classes: int) -> list[str]:
    """Class names: a sequence, a text file (one name a line) or ``None`` (``"0"``, ``"1"``, ...)."""
    if labels is None:
        return [str(i) for i in range(classes)]
    if isinstance(labels, (str, os.PathLike)):
        path = Path(labels)
        try:
            labels = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ExportError("labels", f"cannot read {path}: {exc}") from exc
        while labels and not labels[-1].strip():
            labels.pop()
    names = [str(name).strip() for name in labels]
    if len(names) != classes or not all(names):
        raise ExportError("labels", f"need {classes} non-empty class names (one per output); received {len(names)}")
    return names


def dataset_source(name: str, run: dict[str, Any] | None) -> Source:
    """The ``keras_resnet.datasets`` source ``name``, read as the model's training run read it.

    When ``run`` (the run's ``config.json``) names this dataset, its
    ``data_dir`` and a photo folder's ``validation_split`` apply, so the
    test split is the one the run held out (as ``keras_resnet.evaluate``
    reads it); files that cannot be decoded are skipped, as in training.
    """
    try:
        from keras_resnet import datasets
    except ImportError as exc:
        raise ExportError("dataset", f"reading a dataset by name needs keras_resnet ({exc}); pass .npz files") from exc
    same = run is not None and run.get("dataset") == name
    try:
        source = datasets.load(name, run.get("data_dir") if same else None,
                               validation_split=run.get("validation_split") if same else None)
    except (ValueError, datasets.DatasetUnavailableError) as exc:
        raise ExportError("dataset", str(exc)) from exc
    return datasets.drop_undecodable(source)


def dataset_data(source: Source, preprocessing: Preprocessing, image_shape: tuple[int, int, int],
                 eval_samples: int | None, train_samples: int
                 ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None, list[str]]:
    """Evaluation data (test split), calibration data (train split) and class names of a dataset ``source``.

    Each image goes through the ``image_bytes`` signature's own steps after
    decoding (:meth:`~export.serving_preprocessing.Preprocessing.prepare`:
    the run's resize, or its pretrained weights' resize and crop, then the
    normalisation), so the report measures, and int8 calibrates on, images
    prepared as served ones are. ``eval_samples`` (``None``: all) and
    ``train_samples`` (``0``: none) are the first images of each split.
    """
    from keras_resnet import datasets

    height, width, channels = image_shape
    if height != width or channels != 3:
        raise ExportError("dataset", f"gives square RGB images; the model takes {image_shape}: pass .npz files")

    def arrays(split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
        batches, _ = datasets.pipeline(source, split, training=False, batch_size=1024, image_size=height, limit=limit,
                                       resize_crop=lambda image, _: preprocessing.prepare(image, image_shape))
        x, y = zip(*batches.as_numpy_iterator(), strict=True)
        return np.concatenate(x), np.concatenate(y)

    try:
        evaluation = arrays("test", eval_samples)
        train = arrays("train", train_samples) if train_samples else None
    except (ValueError, datasets.DatasetUnavailableError) as exc:
        raise ExportError("dataset", str(exc)) from exc
    return evaluation, train, list(source.info.class_names)


def dataset_images(source: Source, count: int) -> list[np.ndarray]:
    """The first ``count`` test images of a dataset ``source`` as stored: uint8, native size."""
    from keras_resnet import datasets

    ds, _ = datasets.examples(source, "test", limit=count)
    return [image for image, _ in ds.as_numpy_iterator()]
