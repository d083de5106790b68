"""The everyday jobs on whichever Keras 3 backend runs the tests (``.ci/run`` runs this file, with
tests/test_models.py, under ``KERAS_BACKEND=tensorflow``, ``jax`` and ``torch``; small inputs).

Weight files (legacy ``.h5`` as keras.applications publishes them, Keras 3
``.weights.h5``) and a few ``model.fit`` steps of a CIFAR net with option-A
shortcuts. Builders, ``count_macs``, ``.keras`` round trips and a longer fit
are in tests/test_models.py; data formats, ``backbone`` and ``output_stride``
in tests/test_formats_features.py.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
from backend_worker import deterministic_weights, images

import keras_resnet as kr

pytestmark = [pytest.mark.backend]

BACKEND = keras.backend.backend()


def test_runs_on_the_backend_ci_asked_for():
    """A matrix leg that silently fell back to another backend would test nothing new."""
    assert BACKEND == os.environ.get("KERAS_BACKEND", "tensorflow")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.parametrize("name", ["ResNet50", "ResNet50V2"])
def test_legacy_h5_from_keras_applications_layout_loads(name, tmp_path):
    """keras.applications' published files are tf_keras (Keras 2) HDF5 files; tf_keras writes one here."""
    tf_keras = pytest.importorskip("tf_keras", reason="tf_keras (TensorFlow) writes the legacy .h5 reference file")
    shape = (64, 64, 3)
    ref = getattr(tf_keras.applications, name)(weights=None, include_top=False, input_shape=shape)
    rng = np.random.default_rng(0)
    for layer in ref.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            c = layer.gamma.shape
            layer.set_weights([rng.uniform(0.8, 1.2, c), rng.normal(0, 0.05, c),
                               rng.normal(0, 0.05, c), rng.uniform(0.8, 1.2, c)])
    path = tmp_path / f"{name}.h5"
    ref.save_weights(str(path))
    model = getattr(kr, name)(include_top=False, weights=str(path), input_shape=shape)
    x = images([2, *shape])
    expected = np.asarray(ref(x, training=False))  # tf_keras, eager: no graph to trace
    assert np.abs(expected).max() > 0.1
    diff = np.abs(_numpy(model(x, training=False)) - expected).max()
    assert diff <= 1e-4 * max(1.0, np.abs(expected).max()), diff


@pytest.mark.parametrize("name,shape", [("resnet20", (32, 32, 3)), ("resnet18v2", (32, 32, 3))])
def test_weights_h5_round_trip(name, shape, tmp_path):
    model = kr.get_model(name, input_shape=shape, classifier_activation=None)
    deterministic_weights(model)
    path = tmp_path / f"{name}.weights.h5"
    model.save_weights(str(path))
    loaded = kr.get_model(name, input_shape=shape, classifier_activation=None, weights=str(path))
    x = images([2, *shape])
    np.testing.assert_array_equal(_numpy(loaded(x, training=False)), _numpy(model(x, training=False)))


def test_weights_h5_of_keras_applications_loads(tmp_path):
    ref = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))
    deterministic_weights(ref)
    path = str(tmp_path / "resnet50v2.weights.h5")
    ref.save_weights(path)
    model = kr.ResNet50V2(include_top=False, weights=path, input_shape=(64, 64, 3))
    x = images([2, 64, 64, 3])
    np.testing.assert_allclose(_numpy(model(x, training=False)), _numpy(ref(x, training=False)), atol=1e-5)


def test_fit_a_few_steps_of_a_cifar_net():
    """ResNet-20 (option-A shortcuts) trains: finite loss, weights and batch-norm statistics move."""
    from keras_resnet.datasets import load_arrays

    x, y = load_arrays("fashion_mnist", "train", limit=64)
    model = kr.ResNet20(classes=10)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy")
    before = [_numpy(w).copy() for w in model.weights]
    history = model.fit(x / 255.0, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    moved = {w.path: not np.array_equal(_numpy(w), b) for w, b in zip(model.weights, before, strict=True)}
    assert moved["conv1_conv/kernel"] and moved["predictions/kernel"]
    assert moved["conv1_bn/moving_mean"] and moved["conv1_bn/moving_variance"]


@pytest.mark.skipif(BACKEND == "tensorflow", reason="the message is for the JAX and PyTorch legs of the matrix")
def test_tensorflow_only_parts_say_so_on_other_backends():
    with pytest.raises(RuntimeError, match=rf"keras_resnet.training runs on the TensorFlow backend only.*{BACKEND}"):
        from keras_resnet.training import fit  # noqa: F401
    import export

    with pytest.raises(RuntimeError, match="export runs on the TensorFlow backend only"):
        export.export_model  # noqa: B018


def test_missing_tensorflow_is_named(monkeypatch):
    import sys

    from keras_resnet.tensorflow_only import require_tensorflow

    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as when it is not installed
    if BACKEND == "tensorflow":
        with pytest.raises(ImportError, match=r"export needs TensorFlow: pip install tensorflow==2\.21\.0"):
            require_tensorflow("export")
    else:
        with pytest.raises(RuntimeError, match="TensorFlow backend only"):
            require_tensorflow("export")
