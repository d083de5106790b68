"""Tests for keras_resnet.datasets: sources, transforms, the input pipeline.

Real Fashion-MNIST (Debian's IDX files), synthetic images and image folders.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_resnet import datasets

FASHION = datasets.FASHION_MNIST_DIR
pytestmark = pytest.mark.skipif(not os.path.isdir(FASHION), reason="Debian's dataset-fashion-mnist is not installed")


@pytest.fixture(scope="module")
def fashion() -> datasets.Source:
    return datasets.load("fashion_mnist")


def test_fashion_mnist_is_read_from_the_debian_idx_files(fashion: datasets.Source) -> None:
    info = fashion.info
    assert info.num_examples == {"train": 60000, "test": 10000}
    assert info.image_shape == (28, 28, 1) and info.num_classes == 10 and info.class_names[9] == "Ankle boot"
    labels = fashion.labels("train")
    assert np.bincount(labels).tolist() == [6000] * 10


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, 8, array.ndim, *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_data_dir_overrides_the_idx_folder_and_bad_files_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 6), ("t10k", 3)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    source = datasets.load("fashion_mnist", data_dir=str(tmp_path))
    assert source.info.num_examples == {"train": 6, "test": 3}
    with gzip.open(tmp_path / "bad.gz", "wb") as f:
        f.write(struct.pack(">BBBBI", 0, 0, 8, 1, 10) + b"\x01\x02")
    with pytest.raises(ValueError, match="truncated"):
        datasets.read_idx(tmp_path / "bad.gz")


def test_eval_pipeline_pads_28_to_32_and_repeats_gray_into_rgb(fashion: datasets.Source) -> None:
    ds, count = datasets.pipeline(fashion, "test", training=False, batch_size=16, image_size=32, limit=40)
    batches = list(ds.as_numpy_iterator())
    assert count == 40 and [len(b[0]) for b in batches] == [16, 16, 8]
    images, labels = batches[0]
    assert images.shape == (16, 32, 32, 3) and images.dtype == np.float32
    assert np.array_equal(images[..., 0], images[..., 2])
    raw = datasets.read_idx(Path(FASHION) / "t10k-images-idx3-ubyte.gz")[:16]
    assert np.array_equal(images[:, 2:30, 2:30, 0], raw)
    assert not images[:, :2].any() and not images[:, 30:].any()
    assert labels.tolist() == datasets.read_idx(Path(FASHION) / "t10k-labels-idx1-ubyte.gz")[:16].tolist()


def test_cifar_augmentation_is_a_padded_random_crop_with_flips(fashion: datasets.Source) -> None:
    """§4.2: each training image is a 32x32 window of the 4-pixel-padded image, maybe flipped."""
    eval_ds, _ = datasets.pipeline(fashion, "train", training=False, batch_size=64, image_size=32, limit=64)
    originals = next(eval_ds.as_numpy_iterator())[0][..., 0]
    padded = np.pad(originals, ((0, 0), (4, 4), (4, 4)))
    train_ds, _ = datasets.pipeline(fashion, "train", training=True, batch_size=64, image_size=32, limit=64,
                                    augment="cifar", seed=1)
    augmented = next(train_ds.as_numpy_iterator())[0]
    assert augmented.dtype == np.uint8 and augmented.shape == (64, 32, 32, 3)  # training batches carry uint8
    augmented = augmented[..., 0]
    # Every window (original i, shift dy, dx, flip) of the padded originals, indexed [i, dy, dx, flip].
    crops = np.stack([np.stack([padded[:, dy:dy + 32, dx:dx + 32] for dx in range(9)], axis=1) for dy in range(9)],
                     axis=1)
    windows = np.stack([crops, crops[..., ::-1]], axis=3)
    shifts, flips = set(), 0
    for image in augmented:
        found = np.argwhere(np.all(windows == image, axis=(-2, -1)))  # in (i, dy, dx, flip) order
        assert len(found), "an augmented image is not a flipped/unflipped crop of a padded original"
        shifts.add(tuple(int(v) for v in found[0][1:3]))
        flips += int(found[0][3])
    assert len(shifts) > 10 and 10 < flips < 54  # random crops and flips, not a fixed transform


def test_training_order_and_augmentation_depend_on_seed_and_epoch_only(fashion: datasets.Source) -> None:
    def first_batch(seed: int, epoch: int, peeks: int = 0) -> np.ndarray:
        variable = tf.Variable(epoch, dtype=tf.int64)
        ds, _ = datasets.pipeline(fashion, "train", training=True, batch_size=32, image_size=32, limit=256,
                                  seed=seed, epoch=variable)
        for _ in range(peeks):  # e.g. a strategy peeking at a batch, or a resumed run
            next(iter(ds))
        return next(iter(ds))[0].numpy()

    reference = first_batch(seed=3, epoch=1)
    assert np.array_equal(reference, first_batch(seed=3, epoch=1, peeks=2))
    assert not np.array_equal(reference, first_batch(seed=3, epoch=2))
    assert not np.array_equal(reference, first_batch(seed=4, epoch=1))
    counting, _ = datasets.pipeline(fashion, "train", training=True, batch_size=32, image_size=32, limit=256)
    assert not np.array_equal(next(iter(counting))[0], next(iter(counting))[0])  # no variable: next epoch


def test_imagenet_style_resize_center_crop_and_random_resized_crop() -> None:
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (300, 400, 3)), tf.uint8)
    out = datasets.fit_to_size(image, 224).numpy()
    expected = tf.image.resize(image, (256, 342), method="area")[16:240, 59:283].numpy()
    np.testing.assert_allclose(out, expected, atol=1e-3)
    source = datasets.Source(
        info=datasets.DatasetInfo("synthetic", ("a", "b"), (300, 400, 3), {"train": 8, "test": 8}),
        read=lambda split: tf.data.Dataset.from_tensor_slices((tf.stack([image] * 8), tf.range(8, dtype=tf.int64) % 2)),
        labels=lambda split: np.arange(8) % 2, decode=lambda x: x, record_bytes=None)
    ds, _ = datasets.pipeline(source, "train", training=True, batch_size=8, image_size=64, augment="imagenet")
    crops = next(ds.as_numpy_iterator())[0]
    assert crops.shape == (8, 64, 64, 3)
    assert len({c.tobytes() for c in crops}) == 8  # every crop differs
    labels = [next(iter(ds))[1].numpy().tolist() for _ in range(4)]  # too big to cache: streamed and reshuffled
    assert len({tuple(order) for order in labels}) > 1


def test_class_selection_renumbers_labels_and_limits_per_class(fashion: datasets.Source) -> None:
    ds, count = datasets.examples(fashion, "train", classes=(5, 6, 7, 8, 9), examples_per_class=100)
    labels = np.concatenate([y for _, y in ds.batch(1000).as_numpy_iterator()])
    assert count == 500 and np.bincount(labels).tolist() == [100] * 5
    raw = fashion.labels("train")
    assert np.array_equal(datasets.select(raw, (5, 6), 2), np.sort(np.concatenate(
        [np.flatnonzero(raw == 5)[:2], np.flatnonzero(raw == 6)[:2]])))
    # A source that cannot read a subset directly (tensorflow-datasets') gets the same records from a filtered pass.
    images = {name: np.concatenate([x for x, _ in datasets.examples(source, "train", classes=(9, 2),
                                                                     examples_per_class=3, limit=5)[0]
                                    .batch(10).as_numpy_iterator()])
              for name, source in (("direct", fashion), ("filtered", dataclasses.replace(fashion, subset=None)))}
    np.testing.assert_array_equal(images["direct"], images["filtered"])
    assert images["direct"].shape == (5, 28, 28, 1)
    with pytest.raises(ValueError, match="`classes` must be distinct labels in 0..9"):
        datasets.examples(fashion, "train", classes=(3, 10))
    with pytest.raises(ValueError, match="`examples_per_class` must be a positive integer"):
        datasets.examples(fashion, "train", classes=(3,), examples_per_class=0)


def test_image_folder_dataset(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / "flat" / cls).mkdir(parents=True)
        for i in range(10):
            size = (20 + i, 30 + 2 * i)
            mode = "L" if i % 2 else "RGB"
            pixels = rng.integers(0, 256, size + (() if mode == "L" else (3,)), dtype=np.uint8)
            Image.fromarray(pixels, mode).save(tmp_path / "flat" / cls / f"{i}.{'png' if i % 3 else 'jpg'}")
    source = datasets.load(str(tmp_path / "flat"))
    assert source.info.class_names == ("cat", "dog")
    assert source.info.num_examples == {"train": 18, "validation": 2, "test": 2}  # 10 % of each class held out
    ds, _ = datasets.pipeline(source, "train", training=True, batch_size=6, image_size=32, augment="imagenet")
    images, labels = next(ds.as_numpy_iterator())
    assert images.shape == (6, 32, 32, 3)
    test, _ = datasets.pipeline(source, "test", training=False, batch_size=6, image_size=32)
    assert next(test.as_numpy_iterator())[1].tolist() == [0, 1]
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            (tmp_path / "split" / split / cls).mkdir(parents=True)
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                tmp_path / "split" / split / cls / "x.png")
    assert datasets.load(str(tmp_path / "split")).info.num_examples == {"train": 2, "validation": 2, "test": 2}
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class sub-folders"):
        datasets.load(str(tmp_path / "empty"))


def test_unknown_dataset_and_offline_tfds_fail_fast_and_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="`dataset` must be 'fashion_mnist', a tensorflow-datasets name"):
        datasets.load("no_such_dataset_xyz")
    start = time.monotonic()
    with pytest.raises(datasets.DatasetUnavailableError) as error:
        datasets.load("mnist", data_dir=str(tmp_path))  # not prepared there; this machine is offline
    assert time.monotonic() - start < 60
    assert "not prepared in" in str(error.value) and "tfds build mnist --data_dir DIR" in str(error.value)


def test_load_arrays_gives_model_ready_batches() -> None:
    x, y = datasets.load_arrays("fashion_mnist", "test", limit=20, classes=(0, 9))
    assert x.shape == (20, 32, 32, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 255
    assert set(y.tolist()) <= {0, 1}


def test_short_fit_on_real_fashion_mnist_reduces_loss():
    import keras

    import keras_resnet

    x, y = datasets.load_arrays("fashion_mnist", "train", limit=512)
    assert x.shape == (512, 32, 32, 3)  # grayscale 28x28, padded to 32x32 RGB
    x = x / 255.0
    model = keras_resnet.get_model("resnet8", input_shape=(32, 32, 3), classes=10)  # the data, not the net, is tested
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=64, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses
