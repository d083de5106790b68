"""A dataset's evaluation and calibration images reach the export as the ``image_bytes`` signature prepares a
served image: a net fine-tuned from named weights is measured and int8-calibrated on images resized and cropped
with those weights' transform (read from its run's ``config.json``), not with training's default size rule."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from export import CalibrationOptions, ExportData, ExportOptions, Preprocessing
from export.inputs import prepare
from export.phases import Phases
from export.serving_preprocessing import resolve
from keras_resnet import datasets
from keras_resnet.transform import Transform

SIZE = 32
# crop_pct 0.8, bicubic: far from the default rule (shorter side 37 by area averaging, then a centre crop of 32)
TRANSFORM = Transform(SIZE, 40, "bicubic", (120.0, 110.0, 100.0), (60.0, 60.0, 60.0))
SIDES = ((45, 60), (70, 50), (52, 52))


def photo_folder(root: Path) -> dict[str, list[Path]]:
    """``root/{train,test}/{a,b}/*.png`` of smooth random colours at several sizes; the files of each split."""
    rng = np.random.default_rng(0)
    files: dict[str, list[Path]] = {"train": [], "test": []}
    for split in files:
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for index, (height, width) in enumerate(SIDES):
                coarse = rng.integers(0, 256, (height // 6 + 2, width // 6 + 2, 3)).astype(np.uint8)
                image = Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR)
                path = root / split / label / f"{index}.png"
                image.save(path)
                files[split].append(path)
    return files


def tiny_net() -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs, name="tiny")


def closest(images: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """For each image, its max abs difference from the nearest candidate (the orders of the two may differ)."""
    return np.abs(images[:, None] - candidates[None]).max(axis=(2, 3, 4)).min(axis=1)


def test_a_fine_tuned_nets_dataset_is_prepared_with_its_weights_transform(tmp_path: Path) -> None:
    files = photo_folder(tmp_path / "photos")
    run = tmp_path / "run"
    run.mkdir()
    tiny_net().save(run / "final.keras")
    (run / "config.json").write_text(json.dumps({"dataset": str(tmp_path / "photos"), "data_dir": None,
                                                 "image_size": SIZE, "validation_split": None,
                                                 "transform": TRANSFORM.to_dict()}))
    options = ExportOptions(formats=("tflite",), variants=("int8",), top_k=2, calibration=CalibrationOptions(steps=6))
    inputs = prepare(str(run / "final.keras"), options.check(), ExportData(dataset=str(tmp_path / "photos")), Phases())
    assert Transform.from_dict(inputs.preprocessing.transform) == TRANSFORM

    def served(paths: list[Path]) -> np.ndarray:  # what image_bytes feeds the net for each file
        return np.stack([inputs.preprocessing.decode(tf.constant(p.read_bytes()), (SIZE, SIZE, 3)).numpy()
                         for p in paths])

    def default_rule(paths: list[Path]) -> np.ndarray:  # training's evaluation rule without the transform
        return np.stack([datasets.fit_to_size(tf.constant(np.asarray(Image.open(p))), SIZE).numpy() for p in paths])

    for data, split in ((inputs.evaluation, "test"), (inputs.train, "train")):
        assert len(data) == len(files[split])
        assert closest(data.x, served(files[split])).max() <= 1e-4  # each image is the served one
        assert closest(data.x, default_rule(files[split])).min() > 10  # which the default rule is far from


def test_the_resize_rule_comes_from_a_keras_resnet_run_record_else_the_dataset() -> None:
    assert resolve(Preprocessing(), None) == Preprocessing(resize="fit")
    assert resolve(Preprocessing(), {"model": "from another tool"}) == Preprocessing(resize="fit")
    record = {"dataset": "not read", "image_size": SIZE, "transform": TRANSFORM.to_dict()}
    assert resolve(Preprocessing(), record) == Preprocessing(resize="fit", transform=TRANSFORM.to_dict())
    assert resolve(Preprocessing(resize="pad"), record) == Preprocessing(resize="pad")  # an explicit rule wins
    # no run record: the dataset the export is measured on stands for it (Fashion-MNIST's 28 px, padded to 32)
    assert resolve(Preprocessing(), None, "fashion_mnist", SIZE) == Preprocessing(resize="fit", short_side=28)
