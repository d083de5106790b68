"""keras_resnet.layers.BatchNormalization: the fused op where it applies, keras' results everywhere."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import keras_resnet
from keras_resnet.layers import BatchNormalization, tf_keras_custom_objects

SHAPE = (8, 6, 5, 4)


def _pair(**kwargs) -> tuple[keras.layers.BatchNormalization, BatchNormalization]:
    """keras' layer and the fused one with the same (non-trivial) weights."""
    config = {"epsilon": 1.001e-5, "momentum": 0.9, **kwargs}
    reference, fused = keras.layers.BatchNormalization(**config), BatchNormalization(**config)
    for layer in (reference, fused):
        layer.build(SHAPE)
    rng, channels = np.random.default_rng(0), SHAPE[config.get("axis", -1)]
    weights = [rng.uniform(0.5, 2.0, channels), rng.normal(size=channels), rng.normal(size=channels),
               rng.uniform(0.5, 2.0, channels)]
    for layer in (reference, fused):
        layer.set_weights([w.astype("float32") for w in weights])
    return reference, fused


def _ops(layer: keras.layers.Layer, x: tf.Tensor, training: bool) -> set[str]:
    graph = tf.function(lambda t: layer(t, training=training)).get_concrete_function(x).graph
    return {op.type for op in graph.get_operations()}


def _step(layer: keras.layers.Layer, x: tf.Tensor) -> tuple[np.ndarray, list[np.ndarray]]:
    """Training-mode output and the gradients of a weighted sum w.r.t. input, gamma and beta."""
    weights = tf.constant(np.random.default_rng(1).normal(size=SHAPE), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
    grads = tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])
    return np.asarray(tf.cast(y, tf.float32)), [np.asarray(g) for g in grads]


@pytest.mark.parametrize("axis", [-1, 1])  # NHWC and NCHW (channels_first)
@pytest.mark.parametrize("policy, tolerance", [("float32", 2e-5), ("mixed_bfloat16", 5e-2)])
def test_training_step_matches_keras(policy: str, tolerance: float, axis: int) -> None:
    reference, fused = _pair(dtype=policy, axis=axis)
    x = tf.constant(np.random.default_rng(2).normal(3.0, 2.0, SHAPE), tf.float32)
    if policy != "float32":
        x = tf.cast(x, policy.removeprefix("mixed_"))
    assert "FusedBatchNormV3" in _ops(fused, x, training=True)
    assert "FusedBatchNormV3" not in _ops(reference, x, training=True)
    y_ref, grads_ref = _step(reference, x)
    y_fused, grads_fused = _step(fused, x)
    np.testing.assert_allclose(y_fused, y_ref, atol=tolerance)
    for got, want in zip(grads_fused, grads_ref, strict=True):
        np.testing.assert_allclose(got, want, atol=tolerance * 10, rtol=tolerance)
    # moving statistics: the same (biased-variance) update as keras'
    np.testing.assert_allclose(fused.moving_mean.numpy(), reference.moving_mean.numpy(), atol=tolerance)
    np.testing.assert_allclose(fused.moving_variance.numpy(), reference.moving_variance.numpy(),
                               rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("kwargs, training", [({}, False), ({"synchronized": True}, True), ({"axis": 2}, True)])
def test_falls_back_to_keras_where_fusing_does_not_apply(kwargs: dict, training: bool) -> None:
    reference, fused = _pair(**kwargs)
    x = tf.constant(np.random.default_rng(3).normal(size=SHAPE), tf.float32)
    assert "FusedBatchNormV3" not in _ops(fused, x, training=training)
    np.testing.assert_allclose(fused(x, training=training), reference(x, training=training), atol=1e-6)


def test_models_use_it_and_keras_files_round_trip(tmp_path: Path) -> None:
    model = keras_resnet.get_model("resnet20", input_shape=(32, 32, 3), classes=10)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 19 and all(type(layer) is BatchNormalization is layer.__class__ for layer in norms)
    # Saved as Keras' own class: the fused step is a training detail, not a file format.
    for config in (model.get_config(), json.loads(model.to_json())["config"]):
        saved = next(layer for layer in config["layers"] if layer["name"] == "conv1_bn")
        assert (saved["module"], saved["class_name"], saved.get("registered_name")) == (
            "keras.layers", "BatchNormalization", None)
    path = tmp_path / "r20.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("conv1_bn")) is keras.layers.BatchNormalization
    # Only saving names Keras' class: in memory, a clone keeps the fused layer.
    assert type(keras.models.clone_model(model).get_layer("conv1_bn")) is BatchNormalization
    x = np.random.default_rng(4).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_tf_keras_twin_is_tf_keras_batch_norm() -> None:
    # so tfmot's QAT recognises it and folds it into the convolution before it
    registered = keras.saving.get_registered_name(BatchNormalization)
    assert tf_keras_custom_objects()[registered] is tf_keras.layers.BatchNormalization
