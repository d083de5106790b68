"""keras_resnet.inference: batch norm folded into convolutions computes the same function."""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.inference import FoldedBatchNorm, fold_batchnorm, foldable_pairs, optimize_for_inference


def _randomize_batchnorm(model: keras.Model, seed: int = 0) -> None:
    """Non-trivial BN parameters and statistics, so that folding really changes the weights."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype(np.float32))
            layer.beta.assign(rng.normal(0.0, 0.1, channels).astype(np.float32))
            layer.moving_mean.assign(rng.normal(0.0, 0.1, channels).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels).astype(np.float32))


def _images(shape: tuple[int, ...], count: int = 4) -> np.ndarray:
    return np.random.default_rng(1).normal(0.0, 1.0, (count, *shape)).astype(np.float32)


@pytest.mark.parametrize(("name", "kwargs", "pairs"), [
    ("resnet20", {"input_shape": (32, 32, 3), "classes": 10}, 19),  # option A: no projection convs
    ("resnet50", {"input_shape": (32, 32, 3)}, 53),  # conv1 + 16 x 3 + 4 projections
    ("resnet18v2", {"input_shape": (32, 32, 3)}, 8),  # pre-activation: only each block's inner BN follows a conv
])  # the smallest inputs the nets take: folding is per channel, and oneDNN's NCHW kernels are slow on AVX2 CPUs
@pytest.mark.parametrize("data_format", ["channels_last", pytest.param("channels_first", marks=pytest.mark.onednn)])
def test_folded_model_matches_the_original(name: str, kwargs: dict, pairs: int, data_format: str) -> None:
    if data_format == "channels_first":
        size = kwargs["input_shape"][0]
        kwargs = {**kwargs, "input_shape": (3, size, size)}
    with keras_resnet.image_data_format(data_format):
        model = keras_resnet.get_model(name, classifier_activation=None, **kwargs)
    _randomize_batchnorm(model)
    images = _images(model.input_shape[1:])
    expected = model.predict_on_batch(images)
    folded = fold_batchnorm(model)
    assert len(foldable_pairs(model)) == pairs
    assert sum(isinstance(layer, FoldedBatchNorm) for layer in folded.layers) == pairs
    scale = np.abs(expected).max()
    np.testing.assert_allclose(folded.predict_on_batch(images) / scale, expected / scale, atol=1e-4)
    assert [layer.name for layer in folded.layers[1:]] == [layer.name for layer in model.layers[1:]]


def test_original_model_is_left_unchanged() -> None:
    model = keras_resnet.ResNet20()
    _randomize_batchnorm(model)
    before = [w.copy() for w in model.get_weights()]
    fold_batchnorm(model)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_optimize_for_inference_predicts_the_same_probabilities(jit_compile: bool) -> None:
    model = keras_resnet.ResNet20()
    _randomize_batchnorm(model)
    images = _images((32, 32, 3), count=8)
    fast = optimize_for_inference(model, jit_compile=jit_compile)
    assert fast.jit_compile is jit_compile
    np.testing.assert_allclose(fast.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def test_optimize_without_folding_copies_the_weights() -> None:
    model = keras_resnet.ResNet20()
    _randomize_batchnorm(model)
    images = _images((32, 32, 3))
    copy = optimize_for_inference(model, fold=False, jit_compile=False)
    assert not any(isinstance(layer, FoldedBatchNorm) for layer in copy.layers)
    np.testing.assert_allclose(copy.predict_on_batch(images), model.predict_on_batch(images), atol=1e-6)


def test_folded_model_saves_and_loads(tmp_path) -> None:
    model = keras_resnet.ResNet20()
    _randomize_batchnorm(model)
    folded = fold_batchnorm(model)
    path = tmp_path / "folded.keras"
    folded.save(path)
    loaded = keras.saving.load_model(path)
    images = _images((32, 32, 3))
    np.testing.assert_allclose(loaded.predict_on_batch(images), folded.predict_on_batch(images), atol=1e-6)


def test_non_functional_model_is_refused() -> None:
    with pytest.raises(ValueError, match="functional"):
        fold_batchnorm(keras.Sequential([keras.layers.Dense(2)]))
