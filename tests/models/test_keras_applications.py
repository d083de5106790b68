"""keras.applications compatibility: its published weight files load unchanged.

keras.applications' ImageNet files are legacy Keras-2 HDF5 weight files,
which Keras 3 reads by layer order. ``tf_keras.applications.X(weights=None)
.save_weights("x.h5")`` writes exactly that format; loading it into
``keras_resnet.X(weights=path)`` must reproduce tf_keras' outputs.
"""

import numpy as np
import pytest

import keras_resnet as kr
from keras_resnet.imagenet import preprocess_input

tf_keras = pytest.importorskip("tf_keras")

NETS = {
    "resnet50": ("ResNet50", "caffe"),
    "resnet101": ("ResNet101", "caffe"),
    "resnet152": ("ResNet152", "caffe"),
    "resnet50v2": ("ResNet50V2", "tf"),
    "resnet101v2": ("ResNet101V2", "tf"),
    "resnet152v2": ("ResNet152V2", "tf"),
}


def _reference(name, include_top, shape):
    """A tf_keras.applications net with BN statistics that matter (not 0/1)."""
    rng = np.random.default_rng(0)
    ref = getattr(tf_keras.applications, NETS[name][0])(weights=None, include_top=include_top, input_shape=shape)
    for layer in ref.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            c = layer.gamma.shape
            layer.set_weights([rng.uniform(0.8, 1.2, c), rng.normal(0, 0.05, c),
                               rng.normal(0, 0.05, c), rng.uniform(0.8, 1.2, c)])
    return ref


def _images(name, shape, n=2):
    pixels = np.random.default_rng(1).uniform(0, 255, (n, *shape)).astype("float32")
    return preprocess_input(pixels, NETS[name][1])


def _out(model, x):
    """The model's outputs for a small batch, called directly: ``predict`` would trace a graph of the
    whole net first, which costs several times the call on these few images."""
    return np.asarray(model(x, training=False))


def _named(model):
    """Layer names, less the auto-generated ones (input, v2's unnamed 1x1 pools)."""
    return [layer.name for layer in model.layers
            if not layer.name.startswith(("input", "max_pooling2d")) and not layer.name.endswith("_0_pool")]


# Each of the six nets loads a legacy file here, once: with its top for ResNet-50/101 (V2), without it for
# ResNet-152 (V2), whose layers are ResNet-101's loop with more blocks and whose top is the same two layers.
# (ResNet-50 (V2) without top is tests/models/test_backends.py's case, on every backend.)
@pytest.mark.parametrize("name", ["resnet50", "resnet101", "resnet50v2", "resnet101v2"])
def test_legacy_h5_with_top_loads_and_matches(name, tmp_path):
    shape = (224, 224, 3)
    ref = _reference(name, True, shape)
    path = tmp_path / f"{name}.h5"
    ref.save_weights(str(path))
    model = kr.get_model(name, weights=str(path))
    assert model.count_params() == ref.count_params()
    assert _named(model) == _named(ref)
    x = _images(name, shape)
    diff = np.abs(_out(model, x) - _out(ref, x)).max()
    assert diff <= 1e-5, diff


@pytest.mark.parametrize("name", ["resnet152", "resnet152v2"])
def test_legacy_h5_without_top_matches_features(name, tmp_path):
    """Raw features match tf_keras within 1e-4, or within what Keras 3's own
    keras.applications reaches on the same file (float32 BN rounding grows
    with the feature scale: ResNet152's raw features reach ~300 here) — and
    match Keras 3's keras.applications to the bit."""
    import keras

    shape = (64, 64, 3)
    ref = _reference(name, False, shape)
    path = tmp_path / f"{name}_notop.h5"
    ref.save_weights(str(path))
    model = kr.get_model(name, include_top=False, weights=str(path), input_shape=shape)
    apps = getattr(keras.applications, NETS[name][0])(weights=str(path), include_top=False, input_shape=shape)
    x = _images(name, shape)
    expected = _out(ref, x)
    assert np.abs(expected).max() > 0.1  # the comparison is not between zeros
    ours, theirs = _out(model, x), _out(apps, x)
    apps_diff = np.abs(theirs - expected).max()
    assert np.abs(ours - expected).max() <= max(1e-4, apps_diff)
    np.testing.assert_array_equal(ours, theirs)


def test_keras3_weights_file_from_keras_applications_loads(tmp_path):
    import keras

    ref = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    for layer in ref.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_variance.assign(np.full(layer.moving_variance.shape, 1.1, "float32"))
    path = tmp_path / "resnet50.weights.h5"
    ref.save_weights(str(path))
    model = kr.ResNet50(include_top=False, weights=str(path), input_shape=(64, 64, 3))
    x = _images("resnet50", (64, 64, 3))
    np.testing.assert_allclose(_out(model, x), _out(ref, x), atol=1e-4)


def test_weights_that_do_not_fit_are_refused(tmp_path):
    path = tmp_path / "r50.h5"
    tf_keras.applications.ResNet50(weights=None).save_weights(str(path))
    with pytest.raises(ValueError, match="does not fit resnet101"):
        kr.ResNet101(weights=str(path))
    with pytest.raises(ValueError, match="does not fit"):
        kr.ResNet50(weights=str(path), include_top=False)
