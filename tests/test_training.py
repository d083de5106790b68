"""Tests for keras_resnet.datasets, keras_resnet.training and the ``keras_resnet.train`` CLI.

Real Fashion-MNIST (Debian's IDX files), tiny nets (CIFAR ResNet-8 at width
0.25-0.5), a few steps. The crash test kills a real training process.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from PIL import Image

from keras_resnet import datasets, train, training

FASHION = datasets.FASHION_MNIST_DIR
pytestmark = pytest.mark.skipif(not os.path.isdir(FASHION), reason="Debian's dataset-fashion-mnist is not installed")

TINY = {"model": "resnet8", "width_multiplier": 0.25, "train_examples": 256, "eval_examples": 128,
        "global_batch_size": 32, "epochs": 1}
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def run_cli(module: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def fashion() -> datasets.Source:
    return datasets.load("fashion_mnist")


# --- datasets --------------------------------------------------------------------------------

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
    augmented = next(train_ds.as_numpy_iterator())[0][..., 0]
    shifts, flips = set(), 0
    for image in augmented:
        found = [(i, dy, dx, flip) for i in range(64) for dy in range(9) for dx in range(9) for flip in (0, 1)
                 if np.array_equal(image, (lambda w: w[:, ::-1] if flip else w)(padded[i, dy:dy + 32, dx:dx + 32]))]
        assert found, "an augmented image is not a flipped/unflipped crop of a padded original"
        shifts.add(found[0][1:3])
        flips += found[0][3]
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
    assert source.info.num_examples == {"train": 18, "test": 2}
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
    assert datasets.load(str(tmp_path / "split")).info.num_examples == {"train": 2, "test": 2}
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


# --- recipe ----------------------------------------------------------------------------------

def test_step_schedule_is_the_papers_with_warmup_and_cosine_option() -> None:
    step = training.learning_rate_schedule("step", 0.1, 100, [50, 75], warmup_steps=10, warmup_learning_rate=0.01)
    values = {s: float(step(s)) for s in (0, 9, 10, 49, 50, 74, 75, 99)}
    assert values == pytest.approx({0: 0.01, 9: 0.01, 10: 0.1, 49: 0.1, 50: 0.01, 74: 0.01, 75: 0.001, 99: 0.001})
    cosine = training.learning_rate_schedule("cosine", 0.1, 100, warmup_steps=10, warmup_learning_rate=0.01)
    assert float(cosine(0)) == pytest.approx(0.01) and float(cosine(10)) == pytest.approx(0.1)
    assert float(cosine(55)) == pytest.approx(0.05, abs=1e-3) and float(cosine(100)) == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="`lr_schedule` must be one of"):
        training.learning_rate_schedule("linear", 0.1, 100)


def test_weight_decay_is_l2_on_conv_and_dense_kernels_only() -> None:
    config = training.TrainConfig(**TINY)
    model = training.build_model(config, 10, np.zeros((32, 32, 3)), 1.0)
    training.apply_weight_decay(model, 1e-4)
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    expected = 0.5e-4 * sum(float(np.sum(np.square(k.numpy()))) for k in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)
    assert len(model.losses) == len(kernels)  # BN gammas/betas and biases are not decayed
    restored = keras.models.model_from_json(model.to_json())
    assert restored.get_layer("conv1_conv").kernel_regularizer.l2 == pytest.approx(0.5e-4)


def test_build_model_options_plain_shortcut_width() -> None:
    base = training.TrainConfig(**TINY)
    names = {layer.name for layer in training.build_model(base, 10, np.zeros((32, 32, 3)), 1.0).layers}
    assert "conv3_block1_0_zeropad" in names and "conv2_block1_add" in names  # option A, CIFAR default
    plain = training.build_model(training.TrainConfig(**{**TINY, "plain": True}), 10, np.zeros((32, 32, 3)), 1.0)
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    option_b = training.build_model(training.TrainConfig(**{**TINY, "shortcut": "B", "width_multiplier": 0.5}), 7,
                                    np.zeros((32, 32, 3)), 1.0)
    assert option_b.get_layer("conv3_block1_0_conv").filters == 16 and option_b.output_shape == (None, 7)
    assert option_b.get_layer("preprocess").input.shape == (None, 32, 32, 3)


BAD_VALUES = [
    ("epochs", 0, "`epochs` must be an integer >= 1"),
    ("global_batch_size", 1.5, "`global_batch_size` must be an integer >= 1"),
    ("learning_rate", -0.1, "`learning_rate` must be a finite number > 0"),
    ("bn_momentum", 1.0, "`bn_momentum` must be in"),
    ("lr_schedule", "linear", "`lr_schedule` must be one of ('step', 'cosine')"),
    ("strategy", "gpu", "`strategy` must be one of ('default', 'one_device', 'mirrored', 'multi_worker', 'tpu')"),
    ("mixed_precision", "fp16", "`mixed_precision` must be one of"),
    ("shortcut", "D", "`shortcut` must be one of (None, 'A', 'B', 'C')"),
    ("augment", "mixup", "`augment` must be one of ('auto', 'cifar', 'imagenet', 'none')"),
    ("backup_freq", "hour", "`backup_freq` must be 'epoch' or a positive number of steps"),
    ("lr_decay_epochs", (3.0, 2.0), "`lr_decay_epochs` must increase within"),
    ("fine_tune_epochs", 2, "`fine_tune_epochs` needs `init_weights`"),
]


def test_bad_values_name_the_setting_and_what_is_allowed() -> None:
    for field, value, message in BAD_VALUES:
        with pytest.raises(ValueError) as error:
            training.TrainConfig(**{**TINY, "epochs": 3, field: value})
        assert message in str(error.value), field


def test_atomic_path_replaces_in_one_step_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(RuntimeError), training.atomic_path(target) as tmp:
        Path(tmp).write_text("partial")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["model.keras"]
    training.write_json(target, {"new": 1})
    assert json.loads(target.read_text()) == {"new": 1} and os.listdir(tmp_path) == ["model.keras"]


# --- fit -------------------------------------------------------------------------------------

def test_fit_trains_and_writes_every_output(tmp_path: Path) -> None:
    result = training.fit(model="resnet8", width_multiplier=0.5, train_examples=2048, eval_examples=1000,
                          global_batch_size=64, epochs=2, model_dir=str(tmp_path))
    assert result.test["accuracy"] > 0.3  # 10 classes: chance is 0.1; seeds give 0.43-0.51 after 2 short epochs
    assert len(result.history["loss"]) == 2 and result.history["loss"][1] < result.history["loss"][0]
    files = set(os.listdir(tmp_path))
    assert files == {"config.json", "metrics.json", "final.keras", "best.keras", "best.json", "history.csv", "logs"}
    with open(tmp_path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"] and "val_accuracy" in rows[0]
    assert any(Path(tmp_path, "logs", "train").iterdir()) and any(Path(tmp_path, "logs", "validation").iterdir())
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["steps_per_epoch"] == 32 and config["num_classes"] == 10 and config["image_size"] == 32
    assert json.loads((tmp_path / "metrics.json").read_text())["accuracy"] == pytest.approx(result.test["accuracy"])
    model = keras.models.load_model(result.final_model)
    x, y = datasets.load_arrays("fashion_mnist", "test", limit=1000)
    accuracy = float(np.mean(model.predict(x, verbose=0).argmax(axis=1) == y))
    assert accuracy == pytest.approx(result.test["accuracy"], abs=1e-6)  # the saved model takes raw pixels
    assert json.loads((tmp_path / "best.json").read_text())["val_accuracy"] == max(result.history["val_accuracy"])


def test_fit_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    def weights(seed: int, name: str) -> list[np.ndarray]:
        result = training.fit(**TINY, seed=seed, model_dir=str(tmp_path / name))
        return keras.models.load_model(result.final_model).get_weights()

    first, again, other = weights(5, "a"), weights(5, "b"), weights(6, "c")
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, c) for a, c in zip(first, other, strict=True))


def test_nan_loss_stops_training_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FloatingPointError, match=r"Training diverged: the loss is (nan|inf).*--learning_rate"):
        training.fit(**TINY, learning_rate=1e38, weight_decay=0.0, model_dir=str(tmp_path))
    assert not (tmp_path / "final.keras").exists()


def test_mixed_precision_and_xla_train_and_restore_the_policy(tmp_path: Path) -> None:
    result = training.fit(**TINY, mixed_precision="mixed_bfloat16", jit_compile=True, model_dir=str(tmp_path))
    assert keras.config.dtype_policy().name == "float32"
    model = keras.models.load_model(result.final_model)
    assert model.get_layer("conv1_conv").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    assert np.isfinite(result.test["loss"])


# --- CLI -------------------------------------------------------------------------------------

ALL_FLAGS = {
    "model": ("resnet14", "resnet14"), "plain": ("true", True), "shortcut": ("C", "C"),
    "width_multiplier": ("0.5", 0.5), "image_size": ("40", 40), "dataset": ("cifar10", "cifar10"),
    "data_dir": ("/d", "/d"), "classes": ("5,6,7", (5, 6, 7)), "examples_per_class": ("100", 100),
    "train_examples": ("1000", 1000), "eval_examples": ("500", 500), "augment": ("imagenet", "imagenet"),
    "epochs": ("8", 8), "global_batch_size": ("256", 256), "learning_rate": ("0.2", 0.2),
    "momentum": ("0.8", 0.8), "weight_decay": ("5e-4", 5e-4), "bn_momentum": ("0.99", 0.99),
    "sync_batch_norm": ("false", False), "lr_schedule": ("cosine", "cosine"),
    "lr_decay_epochs": ("2,4.5", (2.0, 4.5)), "warmup_steps": ("400", 400), "warmup_learning_rate": ("0.02", 0.02),
    "init_weights": ("imagenet", "imagenet"), "freeze": ("conv3", "conv3"), "fine_tune_epochs": ("2", 2),
    "fine_tune_stages": ("2", 2), "fine_tune_learning_rate": ("0.003", 0.003), "model_dir": ("/m", "/m"),
    "strategy": ("tpu", "tpu"), "logical_cpus": ("2", 2), "tpu": ("grpc://10.0.0.1:8470", "grpc://10.0.0.1:8470"),
    "mixed_precision": ("mixed_float16", "mixed_float16"), "jit_compile": ("true", True), "seed": ("7", 7),
    "backup_freq": ("50", 50),
}


def test_every_flag_maps_to_its_config_field() -> None:
    fields = {f.name for f in training.dataclasses.fields(training.TrainConfig)}
    assert set(ALL_FLAGS) == fields
    config = train.parse(["train", *(f"--{name}={text}" for name, (text, _) in ALL_FLAGS.items())])
    for name, (_, value) in ALL_FLAGS.items():
        assert getattr(config, name) == value, name
    assert train.parse(["train"]) == training.TrainConfig()
    assert train.parse(["train", "--backup_freq=epoch"]).backup_freq == "epoch"


def test_bad_flags_are_refused_with_the_flag_and_allowed_values() -> None:
    for args, message in [
        (["--strategy=gpu"], "flag --strategy=gpu: value should be one of "
                             "<default|one_device|mirrored|multi_worker|tpu>"),
        (["--epochs=0"], "flag --epochs=0: 0 is not a positive integer"),
        (["--classes=a,b"], "--classes must be a comma-separated list of ints"),
        (["--backup_freq=often"], "--backup_freq must be 'epoch' or a number of steps"),
        (["--epochs=2", "--lr_decay_epochs=3"], "`lr_decay_epochs` must increase within (0, epochs=2]"),
    ]:
        with pytest.raises((flags.Error, ValueError)) as error:
            train.parse(["train", *args])
        assert message in str(error.value), args


def test_cli_help_documents_every_flag() -> None:
    done = run_cli("keras_resnet.train", "--help")  # absl exits with 1 after --help
    assert "python -m keras_resnet.train" in done.stdout
    for name in ALL_FLAGS:
        assert f"--{name}" in done.stdout or f"--[no]{name}" in done.stdout, name


def test_cli_trains_with_one_line_per_epoch_and_prints_test_accuracy(tmp_path: Path) -> None:
    done = run_cli("keras_resnet.train", "--model=resnet8", "--width_multiplier=0.25", "--shortcut=B",
                   "--train_examples=192", "--eval_examples=64", "--global_batch_size=32", "--epochs=2",
                   "--augment=imagenet", "--lr_schedule=cosine", "--warmup_steps=2", "--seed=1",
                   "--strategy=one_device", "--backup_freq=4", f"--model_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    epoch_lines = [line for line in done.stdout.splitlines() if line.startswith("6/6 - ")]
    assert len(epoch_lines) == 2 and "\x08" not in done.stdout and "\r" not in done.stdout
    assert "test accuracy: " in done.stdout.splitlines()[-1]
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["shortcut"], config["augment"], config["lr_schedule"], config["backup_freq"]) == (
        "B", "imagenet", "cosine", 4)
    assert "conv3_block1_0_conv" in {layer.name for layer in keras.models.load_model(tmp_path / "final.keras").layers}
    failed = run_cli("keras_resnet.train", "--dataset=no_such_dataset_xyz", f"--model_dir={tmp_path / 'x'}")
    assert failed.returncode == 1 and "error: `dataset` must be" in failed.stderr


def test_sigkill_mid_epoch_then_rerun_resumes_from_the_last_checkpoint(tmp_path: Path) -> None:
    """Kill -9 during training, rerun the same command: it resumes, ends with all epochs and a loadable model."""
    steps, epochs = 20, 3
    args = ["-m", "keras_resnet.train", "--model=resnet8", "--width_multiplier=0.25", f"--epochs={epochs}",
            f"--train_examples={steps * 16}", "--global_batch_size=16", "--eval_examples=32", "--backup_freq=3",
            f"--model_dir={tmp_path}"]
    metadata = tmp_path / "backup" / "train" / "training_metadata.json"

    def saved_mid_epoch() -> bool:  # a step-level checkpoint after the first epoch
        try:
            state = json.loads(metadata.read_text())
        except (OSError, ValueError):
            return False
        return state["epoch"] >= 1 and state["batch"] > 0

    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=ENV, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not saved_mid_epoch():
            assert process.poll() is None and time.monotonic() < deadline, "training ended before being killed"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert not (tmp_path / "final.keras").exists()

    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=ENV, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Resuming from the checkpoint in {tmp_path / 'backup'}" in done.stdout
    epoch_lines = [line for line in done.stdout.splitlines() if line.startswith(f"{steps}/{steps} - ")]
    assert 1 <= len(epoch_lines) < epochs  # only the epochs not finished before the kill
    with open(tmp_path / "history.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == [str(e) for e in range(epochs)]
    model = keras.models.load_model(tmp_path / "final.keras")
    # A fresh start or an epoch-level resume would end after exactly epochs * steps updates; resuming from a
    # mid-epoch checkpoint keeps the updates made before it, then redoes that epoch in full.
    assert epochs * steps < int(model.optimizer.iterations) <= (epochs + 1) * steps
    assert not (tmp_path / "backup").exists()
