"""The tf_keras rebuild behind QAT (any functional graph, weights carried over) and the
net variants: option-A shortcuts, plain twins and pre-activation nets convert."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tf_keras
from export_support import fashion_mnist, run_cli, run_export, small_net

from export import ExportError, qat
from export.qat import REBUILD_TOLERANCE
from export.tf_keras_rebuild import rebuild
from export.variants import checks, jobs
from keras_resnet import datasets
from keras_resnet.inference import foldable_pairs
from keras_resnet.layers import ZeroPadShortcut


def with_random_statistics(model: keras.Model) -> keras.Model:
    """Move every BatchNormalization away from the identity, so equality is not trivial."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([w + rng.uniform(0.1, 0.5, w.shape).astype("float32") for w in layer.get_weights()])
    return model


def max_diff(model: keras.Model, twin: tf_keras.Model, x: np.ndarray) -> float:
    return float(np.abs(model.predict(x, verbose=0) - twin.predict(x, verbose=0)).max())


@pytest.mark.parametrize(("name", "kwargs"), [
    ("resnet8", {"shortcut": "A"}), ("resnet8", {"shortcut": "B"}), ("resnet8", {"shortcut": "C"}),
    ("resnet8", {"plain": True}), ("preact_resnet8", {}),
])
def test_rebuild_equals_the_keras3_net(name: str, kwargs: dict[str, Any]) -> None:
    model = with_random_statistics(small_net(name, **kwargs))
    twin = rebuild(model)
    assert isinstance(twin, tf_keras.Model)
    assert [w.shape for w in twin.weights] == [tuple(w.shape) for w in model.weights]
    assert max_diff(model, twin, fashion_mnist("test", 32)[0]) <= REBUILD_TOLERANCE
    custom = [type(layer).__name__ for layer in twin.layers if not type(layer).__module__.startswith("tf_keras")]
    assert set(custom) == ({"ZeroPadShortcut"} if kwargs.get("shortcut") == "A" else set())


def test_rebuild_inlines_nested_and_sequential_models() -> None:
    inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, kernel_regularizer="l2"),
                              keras.layers.BatchNormalization(), ZeroPadShortcut(6, 2)], name="inner")
    inputs = keras.Input((8, 8, 3))
    shared = keras.layers.Dense(5, activation="softmax", name="shared")
    features = keras.layers.GlobalAveragePooling2D()(inner(keras.layers.Rescaling(0.5)(inputs)))
    functional = keras.Model(inputs, shared(features), name="wrapped")
    outer = keras.Model(inputs, functional(inputs), name="outer")
    twin = rebuild(with_random_statistics(outer))
    assert not any(isinstance(layer, tf_keras.Model) for layer in twin.layers)  # one flat graph for tfmot
    assert max_diff(outer, twin, np.random.default_rng(1).normal(size=(4, 8, 8, 3)).astype("float32")) <= 1e-6


def test_rebuild_that_differs_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def off(model: keras.Model) -> tf_keras.Model:
        twin = rebuild(model)
        dense = twin.get_layer("predictions")
        dense.set_weights([2 * w for w in dense.get_weights()])
        return twin

    monkeypatch.setattr(qat, "rebuild", off)
    with pytest.raises(RuntimeError, match="the tf_keras rebuild differs from the Keras 3 model"):
        qat.rebuild_checked(small_net(), fashion_mnist("test", 8)[0])


class Subclassed(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.dense = keras.layers.Dense(10, activation="softmax")

    def call(self, x: Any) -> Any:
        return self.dense(keras.ops.mean(x, axis=(1, 2)))


@keras.saving.register_keras_serializable(package="export_tests")
class NoTwin(keras.layers.Layer):
    def call(self, x: Any) -> Any:
        return x


def no_twin_model() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    flat = keras.layers.GlobalAveragePooling2D()(NoTwin()(inputs))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(flat))


def subclassed_model() -> keras.Model:
    model = Subclassed()
    model(np.zeros((1, 32, 32, 3), "float32"))
    return model


@pytest.mark.parametrize(("build", "message"), [
    (no_twin_model, "tf_keras has no layer registered as 'export_tests>NoTwin'"),
    (subclassed_model, "is not a functional or Sequential model"),
])
def test_rebuild_failure_is_a_clear_error(build: Any, message: str) -> None:
    with pytest.raises(ExportError, match=message) as raised:
        rebuild(build())
    assert raised.value.argument == "model"


@pytest.mark.parametrize(("name", "kwargs", "granularities"), [
    ("resnet8", {"plain": True}, ("per_channel",)), ("preact_resnet8", {}, ("per_channel", "per_tensor")),
])
def test_plain_and_preact_nets_quantize_with_float_io(name: str, kwargs: dict[str, Any],
                                                      granularities: tuple[str, ...], tmp_path: Path) -> None:
    x, y = fashion_mnist("train", 256)
    out = tmp_path / "parents" / "made" / "out"
    report = run_export(small_net(name, **kwargs), out, formats=["tflite"], variants=["int8", "qat"],
                        int8_granularity=granularities, eval_data=fashion_mnist("test", 64),
                        calibration_data=(x, y), calibration_steps=8, qat_epochs=1, qat_samples=128,
                        latency_runs=2, threads=[1])
    rows = {row["variant"]: row for row in report["rows"]}
    labels = [job.label for job in jobs(("int8", "qat"), granularities)]
    assert list(rows) == ["keras", *labels]
    assert report["qat"]["rebuild_max_abs_diff"] <= REBUILD_TOLERANCE
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md", "report.png", "tflite"]
    for label in labels:
        assert np.isfinite(rows[label]["max_abs_diff"]) and rows[label]["max_abs_diff"] < 1
        assert (out / rows[label]["path"]).is_file()


@pytest.mark.subprocess
def test_dataset_flag_reads_test_and_train_splits_and_class_names(tmp_path: Path) -> None:
    model = small_net()
    model.save(tmp_path / "model.keras")
    assert run_cli(f"--model={tmp_path / 'model.keras'}", f"--output_dir={tmp_path / 'out'}",
                   "--dataset=fashion_mnist", "--eval_samples=64", "--formats=tflite", "--variants=int8",
                   "--calibration_steps=4", "--latency_runs=1", "--threads=1") == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["eval_samples"] == 64 and report["labels"] == list(datasets.FASHION_MNIST_CLASSES)
    x, y = fashion_mnist("test", 64)
    accuracy = float(np.mean(model.predict(x, verbose=0).argmax(axis=1) == y))
    assert report["keras_accuracy"] == pytest.approx(accuracy)  # the test split, as the training pipeline feeds it
    assert (tmp_path / "out" / "tflite" / "labels.txt").read_text().splitlines() == report["labels"]


def test_qat_ranges_are_calibrated_from_the_float_net() -> None:
    """tfmot starts activation ranges at [-6, 6] (EMA 0.999): calibrated, the quantized net matches the float one."""
    x = fashion_mnist("test", 128)[0]
    twin = rebuild(with_random_statistics(small_net(train_images=512)))
    quantized = qat.quantize(twin)
    float_probabilities = twin.predict(x, verbose=0)
    reference = float_probabilities.argmax(axis=1)
    clipped = quantized.predict(x, verbose=0)
    before = float(np.mean(clipped.argmax(axis=1) == reference))
    ranges = [v for layer in quantized.layers for v in layer.weights if v.name.endswith(("output_max:0", "_max:0"))
              and "kernel" not in v.name]
    assert ranges and {float(v.numpy()) for v in ranges} <= {6.0, 0.0}  # tfmot's initial ranges (0: input layer)
    assert qat.calibrate_ranges(quantized, twin, x) >= 10
    calibrated = quantized.predict(x, verbose=0)
    after = float(np.mean(calibrated.argmax(axis=1) == reference))
    assert after >= before + 0.25, (before, after)  # a barely trained net: many near ties, hence not 100 %
    error = np.abs(calibrated - float_probabilities).mean()
    assert error < 0.75 * np.abs(clipped - float_probabilities).mean()
    outputs = tf_keras.Model(twin.inputs, twin.get_layer("predictions").input).predict(x, verbose=0)
    assert outputs.max() > 6  # the float net's activations do leave [-6, 6]: the initial ranges clip them


def conv_kernel_scales(path: Path) -> list[int]:
    """The number of quantization scales of each 4-D int8 tensor (convolution kernels) of a LiteRT file."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(path)).get_tensor_details()
    return [len(d["quantization_parameters"]["scales"]) for d in details
            if d["dtype"] == np.int8 and len(d["shape"]) == 4 and d["shape"][0] > 3]


def test_per_tensor_files_have_one_scale_per_kernel(tmp_path: Path) -> None:
    x, y = fashion_mnist("train", 128)
    report = run_export(small_net(train_images=256), tmp_path / "out", formats=["tflite"],
                        variants=["int8", "uint8", "qat"], int8_granularity=["per_tensor", "per_channel"],
                        eval_data=fashion_mnist("test", 64), calibration_data=(x, y), calibration_steps=8,
                        qat_epochs=1, qat_samples=128, latency_runs=1, threads=[1])
    assert [row["variant"] for row in report["rows"]] == ["keras", "int8", "int8_per_tensor", "uint8",
                                                          "uint8_per_tensor", "qat", "qat_per_tensor"]
    assert {t["variant"] for t in report["targets"]} >= {"int8_per_tensor", "uint8_per_tensor", "qat_per_tensor"}
    assert set(report["qat"]["history_per_tensor"]) == set(report["qat"]["history"]) >= {"loss"}
    for label in ("int8", "uint8", "qat"):
        per_channel = conv_kernel_scales(tmp_path / "out" / "tflite" / f"resnet8_{label}.tflite")
        per_tensor = conv_kernel_scales(tmp_path / "out" / "tflite" / f"resnet8_{label}_per_tensor.tflite")
        assert len(per_channel) == len(per_tensor) >= 7  # every convolution kernel of resnet8 is int8
        assert min(per_channel) > 1 and set(per_tensor) == {1}
    qat_per_tensor = next(row for row in report["rows"] if row["variant"] == "qat_per_tensor")
    assert qat_per_tensor["accuracy_drop"] <= dict(checks("qat_per_tensor"))["accuracy_drop"]
    assert qat_per_tensor["agreement"] >= 0.9


def test_per_tensor_qat_folds_batch_norms_into_the_convolutions() -> None:
    """Per tensor, the twin is the batch-norm-folded net's (tfmot's own fold would leave each BN's per-channel
    scale outside the kernel's one scale); it still computes the Keras model's function."""
    model = with_random_statistics(small_net("preact_resnet8"))
    x = fashion_mnist("test", 32)[0]
    twin, diff = qat.rebuild_checked(model, x, fold=True)
    assert diff <= REBUILD_TOLERANCE
    norms = [layer for layer in twin.layers if isinstance(layer, tf_keras.layers.BatchNormalization)]
    folded = [layer.name for layer in twin.layers if type(layer).__name__ == "FoldedBatchNorm"]
    assert sorted(folded) == sorted(foldable_pairs(model).values()) and folded
    assert norms and len(norms) + len(folded) == sum(isinstance(layer, keras.layers.BatchNormalization)
                                                     for layer in model.layers)  # pre-activation BNs stay
