"""Tests for the fine-tuning recipe: the presets, warm-up per phase, AdamW's decoupled decay, Keras'
augmentation layers on the batches, EMA weights saved as the final model, and the transfer study's pieces.

Tiny nets (CIFAR ResNet-8 at width 0.25) on real Fashion-MNIST, one or two epochs of a few steps.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_resnet import datasets, training
from keras_resnet.experiments import finetune
from keras_resnet.training import callbacks, cli
from keras_resnet.training.augment import training_batches

pytestmark = pytest.mark.skipif(not os.path.isdir(datasets.FASHION_MNIST_DIR),
                                reason="Debian's dataset-fashion-mnist is not installed")

TINY = {"model": "resnet8", "width_multiplier": 0.25, "train_examples": 96, "eval_examples": 64,
        "global_batch_size": 32, "epochs": 1}


def _tiny_model(classes: int = 10) -> keras.Model:
    return training.build_model(training.TrainConfig(**TINY), classes, np.zeros((32, 32, 3)), 1.0)


def test_a_preset_sets_defaults_and_flags_given_win() -> None:
    assert training.recipe_config() == training.TrainConfig() == cli.parse(["train"])
    preset = training.RECIPES["finetune"]
    tuned = cli.parse(["train", "--recipe=finetune"])
    assert tuned.recipe == "finetune" and {name: getattr(tuned, name) for name in preset} == preset
    assert tuned.fine_tune_epochs == 0  # no --init_weights: one phase, from scratch
    given = cli.parse(["train", "--recipe=finetune", "--learning_rate=0.01", "--noema", "--optimizer=sgd",
                       "--label_smoothing=0", "--init_weights=m.keras", "--fine_tune_stages=2"])
    assert (given.learning_rate, given.ema, given.optimizer, given.label_smoothing) == (0.01, False, "sgd", 0.0)
    assert (given.fine_tune_epochs, given.fine_tune_stages, given.mixup) == (10, 2, preset["mixup"])
    assert cli.parse(["train", "--learning_rate=0.01"]) == training.TrainConfig(learning_rate=0.01)
    with pytest.raises(ValueError, match=r"`recipe` must be one of \('paper', 'finetune'\); received recipe='timm'"):
        training.recipe_config("timm")
    with pytest.raises(ValueError, match="`recipe` sets a config's defaults"):
        training.fit(training.TrainConfig(), recipe="finetune")


def test_warmup_epochs_warm_up_each_phase_linearly_then_cosine() -> None:
    config = training.recipe_config("finetune", init_weights="m.keras", epochs=2, fine_tune_epochs=3,
                                    warmup_epochs=0.5)
    head, tune = training.phases(config, _tiny_model())
    for phase, lr, steps in ((head, 1e-3, 20), (tune, 1e-4, 30)):
        schedule = training.phase_schedule(config, phase, steps_per_epoch=10)
        assert float(schedule(0)) == 0.0 and float(schedule(2)) == pytest.approx(0.4 * lr)  # from 0 to lr in 5 steps
        assert float(schedule(5)) == pytest.approx(lr) and float(schedule(steps)) == pytest.approx(0, abs=1e-9)
    paper = training.TrainConfig(init_weights="m.keras", fine_tune_epochs=3, warmup_steps=4)
    _, paper_tune = training.phases(paper, _tiny_model())
    assert (paper_tune.warmup_steps, paper_tune.warmup_epochs) == (0, 0.0)  # the paper's warm-up: first phase only


def test_adamw_decays_kernels_only_and_sgd_keeps_the_l2_penalty() -> None:
    config = training.recipe_config("finetune", **TINY)
    model = _tiny_model()
    assert training.l2_weight_decay(config) == 0.0 and training.l2_weight_decay(training.TrainConfig()) == 1e-4
    optimizer = training.make_optimizer(config, 0.1, model)
    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.use_ema and optimizer.ema_momentum == 0.95
    kernels = {id(layer.kernel) for layer in training.decayed_layers(model)}
    variables = model.trainable_variables
    before = [v.numpy() for v in variables]
    optimizer.apply_gradients(zip([tf.zeros_like(v) for v in variables], variables, strict=True))  # Adam moves 0
    for variable, old in zip(variables, before, strict=True):
        expected = old * (1 - 0.1 * 0.05) if id(variable) in kernels else old
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-6, err_msg=variable.path)
    assert len(kernels) < len(variables)  # BN and biases were there, and kept
    sgd = training.make_optimizer(training.TrainConfig(**TINY), 0.1, model)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.momentum == 0.9 and not sgd.use_ema


def _batches(n: int = 8) -> tf.data.Dataset:
    image = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype("float32")
    images, labels = np.repeat(image[None], n, axis=0), np.arange(n, dtype=np.int64) % 3
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(4, drop_remainder=True)


def test_keras_augmentation_layers_run_on_the_training_batches() -> None:
    config = training.TrainConfig(**TINY, rand_augment=2, random_erasing=1.0, mixup=0.4, cutmix=1.0)
    out = training_batches(_batches(), config, 3)
    assert int(out.cardinality()) == 2
    batches = list(out.as_numpy_iterator())
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.shape == (8, 32, 32, 3) and labels.shape == (8, 3)
    assert len({image.tobytes() for image in images}) == 8  # one input image, eight augmentations
    np.testing.assert_allclose(labels.sum(axis=1), 1, rtol=1e-6)
    assert np.any((labels > 0.01) & (labels < 0.99))  # mixed labels
    assert images.min() >= -1e-3 and images.max() <= 255 + 1e-3  # the value range, to float rounding
    paper = training.TrainConfig(**TINY)
    plain = _batches()
    assert training_batches(plain, paper, 3) is plain  # the paper recipe's batches are left alone
    smoothed = list(training_batches(_batches(), training.TrainConfig(**TINY, label_smoothing=0.1), 3))
    np.testing.assert_array_equal(smoothed[0][1], np.eye(3)[[0, 1, 2, 0]])  # one-hot; the loss smooths them


class _LastEpoch(keras.callbacks.Callback):
    """The trainable weights and the optimizer's moving averages at the end of each epoch."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.raw = {v.path: v.numpy() for v in self.model.trainable_weights}
        averages = [v for v in self.model.optimizer.variables if v.path.endswith("_average")]
        self.average = {v.path: a.numpy() for v, a in zip(self.model.trainable_weights, averages, strict=True)}


def test_finetune_recipe_trains_head_then_backbone_and_saves_the_ema_weights(tmp_path: Path) -> None:
    init = tmp_path / "init.keras"
    _tiny_model().save(init)
    last = _LastEpoch()
    result = training.fit(recipe="finetune", **TINY, classes=(5, 7, 9), init_weights=str(init), fine_tune_epochs=1,
                          fine_tune_stages=3, cutmix=1.0, model_dir=str(tmp_path / "run"), callbacks=[last])
    assert len(result.history["loss"]) == 2  # head, then fine-tuning
    final = keras.models.load_model(result.final_model)
    saved = {v.path: v.numpy() for v in final.trainable_weights}
    assert saved.keys() == last.average.keys()
    for path, value in saved.items():
        np.testing.assert_array_equal(value, last.average[path], err_msg=path)
    assert any(not np.array_equal(last.raw[p], last.average[p]) for p in saved)  # the average, not the last step
    assert final.losses == []  # AdamW's decay is decoupled: no L2 penalty in the loss
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["recipe"], config["optimizer"], config["ema"], config["cutmix"]) == ("finetune", "adamw", True, 1.0)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["class_names"] == ["Sandal", "Sneaker", "Ankle boot"] and sum(metrics["per_class"]["support"]) == 64
    assert metrics["accuracy"] == pytest.approx(np.trace(metrics["confusion_matrix"]) / 64, abs=1e-6)


def test_progress_within_an_epoch_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert callbacks.progress_verbosity() == 1  # Keras' progress bar, updated within the epoch
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert callbacks.progress_verbosity() == 2  # one line per epoch


def test_study_photo_folder_and_summary(tmp_path: Path) -> None:
    root = finetune.write_photo_folder(tmp_path / "photos", per_class=4, test_per_class=2)
    source = datasets.load(str(root))
    assert source.info.class_names == ("Ankle boot", "Bag", "Sandal", "Shirt", "Sneaker")  # classes 5-9, by name
    assert (source.info.num_examples["train"], source.info.num_examples["test"]) == (20, 10)
    train = sorted((root / "train").rglob("*.*"))
    assert {p.suffix for p in train} == {".png", ".jpg"}
    from PIL import Image

    sides = {Image.open(p).size for p in train}
    assert len(sides) > 1 and all(w == h and finetune.PHOTO_SIDES[0] <= w <= finetune.PHOTO_SIDES[1] for w, h in sides)
    assert {Image.open(p).size for p in (root / "test").rglob("*.png")} == {(28, 28)}
    rows = [{"recipe": r, "seed": s, "accuracy": a, "cross_entropy": 1.0, "macro_f1": a}
            for r, values in (("paper", (0.5, 0.7)), ("finetune", (0.8, 0.8))) for s, a in enumerate(values)]
    text = finetune.summary(rows, "python -m keras_resnet.experiments.finetune --out_dir x").splitlines()
    assert text[2] == "| paper | 0,1 | 0.6000 ± 0.1414 | 0.6000 ± 0.1414 | 1.0000 ± 0.0000 |"
    assert text[3] == "| finetune | 0,1 | 0.8000 ± 0.0000 | 0.8000 ± 0.0000 | 1.0000 ± 0.0000 |"
