"""Folders of class sub-folders of images, as people keep their photos.

Layouts (class sub-folders hold the images, at any depth):

* ``root/<class>/...``: a seeded split, stratified by class, holds out
  ``validation_split`` of each class (default :data:`DEFAULT_VALIDATION_SPLIT`)
  for validation, which is also the test split;
* ``root/train/<class>/...`` with ``val/`` (or ``validation/``) and/or
  ``test/`` beside it: those splits; a missing one is the other. With
  ``validation_split``, the validation images are held out of ``train/``
  instead (there must be no ``val/`` then).

Images are every file whose suffix (any case) TensorFlow decodes:
:data:`IMAGE_SUFFIXES`. Hidden files and folders (``.DS_Store``, macOS'
``._photo.jpg``, ``.thumbnails/``) and other files (``notes.txt``) are
ignored; a file that only looks like an image is found by
:mod:`keras_resnet.datasets.scan` before training.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_resnet.datasets.info import DatasetInfo, Source
from keras_resnet.preprocessing import decode

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
HELD_OUT = {"validation": ("val", "validation"), "test": ("test",)}  # split -> sub-folder names beside train/
FOLDER_SPLITS = ("train", "validation", "test")
DEFAULT_VALIDATION_SPLIT = 0.1  # held out of a folder that has no held-out sub-folder


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not _hidden(p.name))


def _images_in(folder: Path) -> list[str]:
    """Visible files with an image suffix under ``folder``, sorted."""
    found = []
    for parent, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not _hidden(d)]
        found += [os.path.join(parent, n) for n in names
                  if not _hidden(n) and os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES]
    return sorted(found)


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Mask of the examples held out: ``round(fraction * n)`` of each class's ``n`` examples (at least one
    of a class with two or more, never all), drawn by NumPy's generator from ``seed``."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = min(max(round(fraction * len(members)), 1), len(members) - 1)
        held[rng.choice(members, count, replace=False)] = True
    return held


def _listing(top: Path, class_names: Sequence[str]) -> tuple[list[str], np.ndarray]:
    files, labels = [], []
    for label, name in enumerate(class_names):
        found = _images_in(top / name) if (top / name).is_dir() else []
        files += found
        labels += [label] * len(found)
    return files, np.asarray(labels, np.int64)


def folder_source(root: Path, validation_split: float | None = None, seed: int = 0) -> Source:
    """The image folder ``root`` (see the module docstring) as a :class:`Source` with train, validation and
    test splits; ``seed`` draws the validation split held out by ``validation_split``."""
    nested = (root / "train").is_dir()
    tops = {split: next((root / d for d in names if nested and (root / d).is_dir()), None)
            for split, names in HELD_OUT.items()}
    class_names = tuple(p.name for p in _class_dirs(root / "train" if nested else root))
    if not class_names:
        raise ValueError(f"`dataset` folder {str(root)!r} has no class sub-folders of images")
    if validation_split is not None and tops["validation"] is not None:
        raise ValueError(f"`validation_split` holds validation images out of the training images; "
                         f"{str(tops['validation'])!r} already holds them: drop one of the two")
    files, labels = {}, {}
    files["train"], labels["train"] = _listing(root / "train" if nested else root, class_names)
    for split, top in tops.items():
        if top is not None:
            files[split], labels[split] = _listing(top, class_names)
    if validation_split is None and not any(tops.values()):
        validation_split = DEFAULT_VALIDATION_SPLIT
    if validation_split:
        held = stratified_split(labels["train"], validation_split, seed)
        files["validation"] = [f for f, h in zip(files["train"], held, strict=True) if h]
        files["train"] = [f for f, h in zip(files["train"], held, strict=True) if not h]
        labels["validation"], labels["train"] = labels["train"][held], labels["train"][~held]
    for split, other in (("validation", "test"), ("test", "validation")):
        if split not in files and other in files:
            files[split], labels[split] = files[other], labels[other]
    if not files["train"] or not files.get("validation"):
        raise ValueError(f"`dataset` folder {str(root)!r} needs images ({', '.join(IMAGE_SUFFIXES)}) for "
                         "training and held-out ones: a val/ or test/ sub-folder beside train/, or "
                         "`validation_split` (each class needs two images or more)")
    return files_source(str(root), class_names, files, labels)


def files_source(name: str, class_names: Sequence[str], files: Mapping[str, Sequence[str]],
                 labels: Mapping[str, np.ndarray]) -> Source:
    """A :class:`Source` reading the image ``files`` of each split, with their ``labels``."""
    files = {split: tuple(paths) for split, paths in files.items()}
    labels = {split: np.asarray(labels[split], np.int64) for split in files}
    sizes = [os.path.getsize(f) for paths in files.values() for f in paths]

    def subset(split: str, indices: np.ndarray) -> tf.data.Dataset:
        paths = [files[split][i] for i in indices]
        ds = tf.data.Dataset.from_tensor_slices((paths or tf.zeros([0], tf.string), labels[split][indices]))
        return ds.map(lambda path, label: (tf.io.read_file(path), label))

    return Source(
        info=DatasetInfo(name, tuple(class_names), (None, None, 3), {s: len(f) for s, f in files.items()}),
        read=lambda split: subset(split, np.arange(len(files[split]))),
        labels=lambda split: labels[split],
        decode=lambda data: decode(data, 3),
        record_bytes=int(np.mean(sizes)) if sizes else None,
        files=files,
        subset=subset,
    )


def without(source: Source, dropped: set[str]) -> Source:
    """``source`` (read from files) without the files in ``dropped``."""
    kept = {split: np.asarray([f not in dropped for f in paths], bool) for split, paths in source.files.items()}
    files = {split: [f for f in paths if f not in dropped] for split, paths in source.files.items()}
    return files_source(source.info.name, source.info.class_names, files,
                        {split: source.labels(split)[mask] for split, mask in kept.items()})


def class_counts_table(source: Source) -> str:
    """Images per class in each split, as lines for the start of a run (imbalance shows at a glance)."""
    splits = [s for s in FOLDER_SPLITS if s in source.info.num_examples]
    counts = {s: np.bincount(source.labels(s), minlength=source.info.num_classes) for s in splits}
    width = max(len(n) for n in source.info.class_names)
    lines = [f"{source.info.name}: {source.info.num_classes} classes; images per class in "
             + ", ".join(f"{s} ({source.info.num_examples[s]})" for s in splits)]
    lines += [f"  {name:<{width}}  " + "  ".join(f"{counts[s][i]:>6}" for s in splits)
              for i, name in enumerate(source.info.class_names)]
    return "\n".join(lines)
