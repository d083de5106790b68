"""The ``tf.data`` input pipeline: selection of examples, shuffling by seed and
epoch, transforms, batches; and small NumPy batches for checks.

Images leave the pipeline as RGB pixels in [0, 255]: uint8 in training
batches, float32 in evaluation ones (:mod:`keras_resnet.datasets.transforms`
says why); the model casts them to float32 and subtracts the mean itself
(:mod:`keras_resnet.datasets.stats`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from keras_resnet.datasets.info import AUGMENTATIONS, DatasetInfo, Source
from keras_resnet.datasets.scan import drop_undecodable
from keras_resnet.datasets.sources import load
from keras_resnet.datasets.transforms import (
    cifar_augment,
    imagenet_augment,
    imagenet_augment_encoded,
    jpeg_header,
    to_pixels,
)
from keras_resnet.preprocessing import fit_to_size, to_rgb  # the one evaluation/serving transform

CACHE_BYTES = 1 << 30  # cache (and permute whole) a split whose records take at most this much
SHUFFLE_BUFFER = 10_000  # for datasets too large to permute in memory


def _check_split(source: Source, split: str) -> None:
    splits = tuple(source.info.num_examples)
    if split not in splits:
        raise ValueError(f"`split` must be one of {splits} for {source.info.name!r}; received split={split!r}")


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


def class_counts(source: Source, split: str, classes: Sequence[int] | None = None,
                 examples_per_class: int | None = None, limit: int | None = None) -> np.ndarray:
    """Examples of each class among those :func:`pipeline` selects (classes renumbered as it does)."""
    _check_split(source, split)
    _check_selection(source.info, classes, examples_per_class, limit)
    labels = source.labels(split)
    labels = labels[select(labels, classes, examples_per_class, limit)]
    if classes is None:
        return np.bincount(labels, minlength=source.info.num_classes)
    return np.asarray([np.count_nonzero(labels == c) for c in classes])


def balanced_class_weight(counts: np.ndarray) -> dict[int, float]:
    """Keras ``class_weight`` that gives every class the same total weight: ``n / (k * n_c)`` (scikit-learn's
    ``"balanced"``), so a rare class counts as much in the loss as a frequent one; 1 for an absent class."""
    counts = np.asarray(counts)
    present = np.count_nonzero(counts)
    return {c: float(counts.sum() / (present * n)) if n else 1.0 for c, n in enumerate(counts.tolist())}


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
             limit: int | None, prepare: Callable[[tf.Tensor], object] | None = None, cache: bool = True
             ) -> tuple[tf.data.Dataset, int, bool]:
    """Undecoded ``(record, label)`` of the selected examples in a fixed
    order, their count, and whether they fit in memory (in :data:`CACHE_BYTES`;
    then, with ``cache``, they are cached there). With ``prepare``, records become
    ``(record, prepare(record))``, computed before the cache (once per record)."""
    _check_split(source, split)
    _check_selection(source.info, classes, examples_per_class, limit)
    if classes is None and examples_per_class is None:
        count = source.info.num_examples[split] if limit is None else min(limit, source.info.num_examples[split])
        ds = source.read(split).take(count)
    else:
        labels = source.labels(split)
        indices = select(labels, classes, examples_per_class, limit)
        count = len(indices)
        if source.subset is not None:
            ds = source.subset(split, indices)
        else:  # one pass over the split, keeping the selected records
            keep = np.zeros(len(labels), bool)
            keep[indices] = True
            ds = source.read(split).enumerate().filter(lambda index, _: tf.gather(keep, index))
            ds = ds.map(lambda _, example: example)
        if classes is not None:
            remap = np.full(max(source.info.num_classes, max(classes) + 1), -1, np.int64)
            remap[np.asarray(classes)] = np.arange(len(classes))
            ds = ds.map(lambda record, label: (record, tf.gather(remap, label)))
    if count == 0:
        raise ValueError(f"No {split} examples of {source.info.name!r} left after selecting classes={classes!r}, "
                         f"examples_per_class={examples_per_class!r}, limit={limit!r}")
    if prepare is not None:
        ds = ds.map(lambda record, label: ((record, prepare(record)), label), num_parallel_calls=tf.data.AUTOTUNE)
    in_memory = source.record_bytes is not None and count * source.record_bytes <= CACHE_BYTES
    if in_memory and cache:
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


def _epochs(ds: tf.data.Dataset, count: int, in_memory: bool, seed: int, epoch: tf.Variable | None
            ) -> tf.data.Dataset:
    """``(record, label, per-example seed)`` for one training epoch, shuffled.

    In-memory records are cached as one batch (so an epoch copies none of
    them whole) and taken in an order drawn, and the per-example augmentation
    seeds derived, from ``(seed, epoch)`` with stateless ops; ``epoch`` is
    read when an iterator is created (without it, each new iterator counts as
    the next epoch). Larger datasets stream through a shuffle buffer of
    :data:`SHUFFLE_BUFFER`, reshuffled each iteration from ``seed``.
    """
    counter = epoch if epoch is not None else tf.Variable(-1, dtype=tf.int64, trainable=False)
    # Created here, once, so that its shuffle order advances from one iteration to the next.
    streamed = None if in_memory else ds.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    whole = ds.batch(count).cache() if in_memory else None

    def one_epoch(_: tf.Tensor) -> tf.data.Dataset:
        current = counter.read_value() if epoch is not None else counter.assign_add(1)
        epoch_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(current, tf.int64)])

        def seeded(position: tf.Tensor, example: tuple) -> tuple:
            return (*example, tf.random.experimental.stateless_fold_in(epoch_seed, position))

        if not in_memory:
            return streamed.enumerate().map(seeded)
        examples = whole.get_single_element()
        order = tf.argsort(tf.random.stateless_uniform([count], epoch_seed))
        return tf.data.Dataset.from_tensor_slices((tf.range(count, dtype=tf.int64), order)).map(
            lambda position, index: seeded(position, tf.nest.map_structure(lambda t: tf.gather(t, index), examples)))

    return tf.data.Dataset.range(1).flat_map(one_epoch)


def pipeline(source: Source, split: str, *, training: bool, batch_size: int, image_size: int,
             augment: str = "cifar", seed: int = 0, classes: Sequence[int] | None = None,
             examples_per_class: int | None = None, limit: int | None = None,
             epoch: tf.Variable | None = None,
             resize_crop: Callable[[tf.Tensor, int], tf.Tensor] | None = None) -> tuple[tf.data.Dataset, int]:
    """Batched ``(RGB image in [0, 255], int64 label)`` and the example count: uint8 images when
    ``training``, float32 otherwise.

    Training: shuffle, augmentation ``augment`` (one of
    :data:`AUGMENTATIONS`) and ``drop_remainder`` batches, all a function of
    ``seed`` and the epoch: pass ``epoch``, an int64 ``tf.Variable`` set to
    the epoch number before each epoch's iterator is created (as
    :func:`keras_resnet.training.fit` does), and the order no longer depends
    on how often the dataset was iterated (resumed runs, distribution
    strategies that peek at a batch). Evaluation: :func:`fit_to_size` only
    (or ``resize_crop(image, image_size)``: the evaluation transform of
    pretrained weights, :meth:`keras_resnet.transform.Transform.resize_crop`),
    all examples, in order. Maps run in parallel; batches are prefetched.
    """
    if augment not in AUGMENTATIONS:
        raise ValueError(f"`augment` must be one of {AUGMENTATIONS}; received augment={augment!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer; received batch_size={batch_size!r}")
    encoded = training and augment == "imagenet" and source.files is not None  # decode a JPEG's crop only
    ds, count, in_memory = _records(source, split, classes, examples_per_class, limit,
                                    prepare=jpeg_header if encoded else None, cache=not training)
    if training and count < batch_size:
        raise ValueError(f"{count} {split} examples are fewer than one batch of {batch_size}; lower the batch "
                         "size or select more examples")
    if training:
        transform = {"cifar": cifar_augment, "imagenet": imagenet_augment,
                     "none": lambda image, size, _: to_pixels(fit_to_size(image, size))}[augment]

        def augmented(record: tf.Tensor | tuple[tf.Tensor, tf.Tensor], seed: tf.Tensor) -> tf.Tensor:
            if encoded:  # (encoded file, its header)
                return imagenet_augment_encoded(record[0], image_size, seed, header=record[1])
            return transform(to_rgb(source.decode(record)), image_size, seed)

        ds = _epochs(ds, count, in_memory=in_memory, seed=seed, epoch=epoch).map(
            lambda record, label, s: (augmented(record, s), label), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size, drop_remainder=True)
        ds = ds.apply(tf.data.experimental.assert_cardinality(count // batch_size))
    else:
        resize = resize_crop or fit_to_size
        ds = ds.map(lambda record, label: (resize(to_rgb(source.decode(record)), image_size), label),
                    num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size)
    options = tf.data.Options()
    options.deterministic = True
    # One thread per op inside the maps: the map itself runs images in parallel, so splitting one image's
    # decode or resize over threads only adds synchronisation (as TF Model Garden's ImageNet input sets it).
    options.threading.max_intra_op_parallelism = 1
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options), count


def load_arrays(name: str = "fashion_mnist", split: str = "test", limit: int | None = 256,
                data_dir: str | None = None, image_size: int = 32,
                classes: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A small NumPy batch for calibration or checks: the first ``limit``
    examples of ``split`` as float32 RGB ``(N, image_size, image_size, 3)`` in
    [0, 255] (what a model trained here takes) and int64 labels. Image files that cannot be decoded are
    skipped (:func:`~keras_resnet.datasets.scan.drop_undecodable`)."""
    source = drop_undecodable(load(name, data_dir))
    ds, _ = pipeline(source, split, training=False, batch_size=1024, image_size=image_size,
                     classes=classes, limit=limit)
    batches = list(ds.as_numpy_iterator())
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
