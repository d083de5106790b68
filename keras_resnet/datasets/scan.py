"""Find, before the first step, every image file that cannot be decoded.

Real photo folders hold files that end in ``.jpg`` but are not images, empty
files and half-written JPEGs. Each would stop training mid-epoch with a
TensorFlow traceback that does not name it (``image_dataset_from_directory``
fails the same way), so every file is decoded once, in parallel in
``tf.data``, by the very function the pipeline uses
(:func:`keras_resnet.preprocessing.decode`); the files whose decoding fails
are dropped (``bad_images="skip"``) or stop the run (``"fail"``), in one line
that names the first few; the full list goes to :data:`BAD_IMAGES_FILE`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_resnet.datasets.folders import without
from keras_resnet.datasets.info import BAD_IMAGES, Source
from keras_resnet.io import atomic_path
from keras_resnet.preprocessing import decode

BAD_IMAGES_FILE = "bad_images.txt"  # in the run's model_dir: one undecodable file per line
NAMED = 3  # undecodable files named on screen


def undecodable(paths: Sequence[str]) -> list[str]:
    """The files among ``paths`` that cannot be read and decoded as an image, in the order given."""
    if not paths:
        return []
    ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), list(paths)))
    ds = ds.map(lambda index, path: (index, tf.shape(decode(tf.io.read_file(path), 3))),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    ds = ds.ignore_errors().map(lambda index, _: index).batch(4096)
    good = np.zeros(len(paths), bool)
    for indices in ds.as_numpy_iterator():
        good[indices] = True
    return [p for p, ok in zip(paths, good, strict=True) if not ok]


def drop_undecodable(source: Source, bad_images: str = "skip", report_dir: str | os.PathLike | None = None
                     ) -> Source:
    """``source`` without its files that cannot be decoded (a source not read from files passes as is).

    Found files are listed in ``report_dir/bad_images.txt`` (a stale list from an earlier run there is
    removed when none is found); ``bad_images="fail"`` raises instead of dropping them.

    Raises:
        ValueError: ``bad_images="fail"`` and some files cannot be decoded, naming the first few.
    """
    if bad_images not in BAD_IMAGES:
        raise ValueError(f"`bad_images` must be one of {BAD_IMAGES}; received bad_images={bad_images!r}")
    if source.files is None:
        return source
    paths = sorted({f for files in source.files.values() for f in files})
    bad = undecodable(paths)
    listing = Path(report_dir) / BAD_IMAGES_FILE if report_dir is not None else None
    if not bad:
        if listing is not None:
            listing.unlink(missing_ok=True)
        return source
    root = source.info.name
    names = ", ".join(os.path.relpath(p, root) for p in bad[:NAMED]) + (", ..." if len(bad) > NAMED else "")
    where = ""
    if listing is not None:
        with atomic_path(listing) as tmp:
            Path(tmp).write_text("".join(f"{p}\n" for p in bad))
        where = f"; all listed in {listing}"
    files = f"{len(bad)} of {len(paths)} files in {root}"
    if bad_images == "fail":
        raise ValueError(f"{files} cannot be decoded as images: {names}{where} (`bad_images`='fail'; 'skip' "
                         "trains without them)")
    print(f"Skipping {files} that cannot be decoded as images: {names}{where}", flush=True)
    return without(source, set(bad))
