"""Tests for keras_resnet.transfer: new head, freezing, BN in inference mode,
keras.applications' ImageNet preprocessing, and transfer beating training from scratch."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from keras_resnet import get_model, imagenet, training, transfer, weights_catalog

pytestmark = [pytest.mark.slow]


def _tiny(classes: int = 10) -> keras.Model:
    config = training.TrainConfig(model="resnet8", width_multiplier=0.25)
    return training.build_model(config, classes, np.full((32, 32, 3), 100.0), 50.0)


def _trainable(model: keras.Model) -> set[str]:
    return {layer.name for layer in model.layers if layer.trainable and layer.weights}


def test_stages_and_freezing_up_to_a_stage() -> None:
    model = _tiny()
    assert transfer.stages(model) == ("conv1", "conv2", "conv3", "conv4")
    transfer.freeze(model, "backbone")
    assert _trainable(model) == {"predictions"}
    transfer.freeze(model, "conv3")
    assert all(name.startswith(("conv4_", "predictions")) for name in _trainable(model))
    assert "conv4_block1_1_conv" in _trainable(model) and "conv3_block1_2_bn" not in _trainable(model)
    assert not model.get_layer("preprocess").trainable and not model.get_layer("conv1_bn").trainable
    transfer.freeze(model, "none")
    assert all(layer.trainable for layer in model.layers)
    assert [transfer.fine_tune_freeze(model, n) for n in (0, 1, 2, 3)] == ["backbone", "conv3", "conv2", "conv1"]
    with pytest.raises(ValueError, match=r"`freeze` must be one of \('none', 'backbone', 'conv1', 'conv2', "):
        transfer.freeze(model, "conv5")
    with pytest.raises(ValueError, match="`fine_tune_stages` must be in 0..3"):
        transfer.fine_tune_freeze(model, 4)


def test_frozen_layers_keep_weights_and_batchnorm_statistics(tmp_path: Path) -> None:
    model = _tiny(3)
    source = tmp_path / "source.keras"
    model.save(source)
    new = transfer.load_init_weights(str(source), "resnet8", classes=5)
    assert new.output_shape == (None, 5) and new.get_layer("predictions").dtype_policy.name == "float32"
    transfer.freeze(new, "backbone")
    training.compile_model(new, 0.1, 0.9, 5, jit_compile=False)
    variables = {v.path: v for v in new.weights}
    before = {path: v.numpy().copy() for path, v in variables.items()}
    rng = np.random.default_rng(0)
    new.fit(rng.uniform(0, 255, (32, 32, 32, 3)).astype("float32"), rng.integers(0, 5, 32), epochs=2, verbose=0)
    changed = {path for path, value in before.items() if not np.array_equal(value, variables[path].numpy())}
    # Only the new head learns; the backbone's BN moving means/variances were not updated (inference mode).
    assert changed == {"predictions/kernel", "predictions/bias", "head_bn/gamma", "head_bn/beta",
                       "head_bn/moving_mean", "head_bn/moving_variance"}
    features = keras.Model(new.inputs, new.get_layer("avg_pool").output)
    x = rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(features(x, training=True), features(x, training=False), atol=1e-6)


def test_init_weights_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="`init_weights` must be published weights .*or a .keras model trained here"):
        transfer.load_init_weights("weights.h5", "resnet8", 5)
    with pytest.raises(FileNotFoundError, match="`init_weights` file not found"):
        transfer.load_init_weights(str(tmp_path / "missing.keras"), "resnet8", 5)
    with pytest.raises(ValueError, match="`init_weights='imagenet'` needs an ImageNet net"):
        transfer.load_init_weights("imagenet", "resnet20", 5)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no cached download: this offline machine must say so
    with pytest.raises(ConnectionError, match="Could not download"):
        transfer.load_init_weights("imagenet", "resnet50", 5, image_size=32)


@pytest.mark.parametrize(("name", "mode"), [("resnet50", "caffe"), ("resnet50v2", "tf")])
def test_imagenet_weights_get_keras_applications_preprocessing_built_in(name: str, mode: str) -> None:
    """Raw RGB into the rebuilt net == keras.applications' preprocess_input into the original."""
    pretrained = get_model(name, include_top=False, pooling="avg", input_shape=(32, 32, 3))
    rebuilt = transfer.preprocessed(pretrained, name, 5, weights_catalog.BY_NAME[f"keras:{name}"].transform)
    features = keras.Model(rebuilt.inputs, rebuilt.get_layer("avg_pool").output)
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = np.asarray(pretrained(imagenet.preprocess_input(x, mode), training=False))
    # Random-init ResNet-50 features reach ~1e4: compare at float32 round-off of that scale.
    np.testing.assert_allclose(features(x, training=False), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_transfer_from_classes_0_4_beats_scratch_on_100_labels_per_class(tmp_path: Path) -> None:
    """A backbone trained on Fashion-MNIST classes 0-4, transferred to 5-9 with 100 images per class.

    ResNet-8 at half width: the same three stages for ``fine_tune_stages``, at a quarter of the full width's
    multiply-adds."""
    common = {"model": "resnet8", "width_multiplier": 0.5, "eval_examples": 1000, "seed": 0}
    source = training.fit(**common, classes=(0, 1, 2, 3, 4), train_examples=5000, epochs=3, global_batch_size=64,
                          model_dir=str(tmp_path / "source"))
    assert source.test["accuracy"] > 0.7
    few = {**common, "classes": (5, 6, 7, 8, 9), "examples_per_class": 100, "global_batch_size": 50}
    # Same budget, 10 epochs: 5 on the new head over the frozen backbone, then 5 fine-tuning all 3 stages.
    transferred = training.fit(**few, init_weights=source.final_model, epochs=5, fine_tune_epochs=5,
                               fine_tune_stages=3, model_dir=str(tmp_path / "transfer"))
    scratch = training.fit(**few, epochs=10, model_dir=str(tmp_path / "scratch"))
    print(f"\ntransfer {transferred.test['accuracy']:.4f} vs scratch {scratch.test['accuracy']:.4f} "
          "(Fashion-MNIST classes 5-9, 500 training images, 1000 test images)")
    assert transferred.test["accuracy"] > scratch.test["accuracy"]
    assert len(transferred.history["loss"]) == 10  # head phase + fine-tuning phase
