"""Inference candidates, built in a benchmark worker: ResNet-50 in keras_resnet, keras.applications, PyTorch and
onnxruntime on the same weights and images, each checked against keras.applications' probabilities before timing;
LiteRT files of this repository's export.

keras_resnet's variants (:data:`benchmarks.settings.INFERENCE_VARIANTS`): batch norm folded into the convolutions
(:func:`keras_resnet.inference.optimize_for_inference`), with XLA, built ``channels_first``, and frozen into a graph of
constants (grappler then sees constant filters); PyTorch's (:mod:`benchmarks.torch_resnet`); onnxruntime runs the
export's ONNX file.
LiteRT: batch 1 on the bare interpreter with its default XNNPACK delegate, and without default delegates (the reference
kernels) to show what XNNPACK contributes.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

import keras_resnet
from benchmarks.settings import APPLICATIONS, FOLDED, LITERT_THREADS, WITHOUT_XNNPACK
from benchmarks.workers import Candidate
from export import CalibrationOptions, ExportData, ExportOptions, export_model
from keras_resnet.inference import optimize_for_inference

CHECK_TOLERANCE = 1e-3  # probabilities; float32 reassociation across frameworks stays far below this


def prepare(folder: str, size: int, batches: tuple[int, ...]) -> int:
    """Write to ``folder`` keras.applications' ResNet-50 weights (batch-norm statistics random, so that folding is
    exercised), the same in keras_resnet's and as the export's ONNX file, seeded images and their reference
    probabilities; returns one image's forward FLOPs."""
    applications, rng = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3)), np.random.default_rng(0)
    for layer in applications.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.1, channels).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels).astype(np.float32))
    applications.save_weights(Path(folder) / "applications.weights.h5")
    ours = _ours(size)
    ours.set_weights(applications.get_weights())
    ours.save_weights(Path(folder) / "resnet50.weights.h5")
    for batch in batches:
        images = np.random.default_rng(batch).uniform(-120, 150, (batch, size, size, 3)).astype(np.float32)
        np.save(Path(folder) / f"images_{batch}.npy", images)
        np.save(Path(folder) / f"reference_{batch}.npy", applications.predict_on_batch(images))
    # tf2onnx holds gigabytes for a ResNet-50, which TensorFlow keeps: a process of its own
    subprocess.run([sys.executable, "-c", f"from benchmarks.predict_candidates import _write_onnx; "
                    f"_write_onnx({folder!r}, {size})"], check=True, cwd=Path(__file__).resolve().parents[1])
    return 2 * keras_resnet.count_macs(ours)


def _write_onnx(folder: str, size: int) -> None:
    """keras_resnet's folded ResNet-50 as the ONNX file of this repository's export (any batch size)."""
    from export import onnx_file

    onnx_file.write(optimize_for_inference(_ours(size, folder=folder)), Path(folder) / "resnet50.onnx")


def _ours(size: int, data_format: str = "channels_last", folder: str | None = None) -> keras.Model:
    """keras_resnet's ResNet-50 with the weights :func:`prepare` wrote to ``folder`` (if given; zero-initialised
    otherwise, as its weights are set right after: sampling 25 M is wasted)."""
    shape = (size, size, 3) if data_format == "channels_last" else (3, size, size)
    with keras_resnet.image_data_format(data_format):
        model = keras_resnet.ResNet50(weights=None, input_shape=shape, kernel_initializer="zeros")
    if folder:
        model.load_weights(Path(folder) / "resnet50.weights.h5")
    return model


def _predictor(variant: str, folder: str, images: np.ndarray,
               ours: keras.Model) -> tuple[Callable[[], np.ndarray], dict[str, Any]]:
    """``variant``'s batch predictor on ``images`` (from ``ours``, keras_resnet's model), and what it is."""
    xla, size = variant.endswith("XLA"), images.shape[1]
    if variant.startswith(APPLICATIONS):
        model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3))
        model.load_weights(Path(folder) / "applications.weights.h5")
        model.compile(jit_compile=xla)
        return lambda: model.predict_on_batch(images), {"framework": "keras", "xla": xla}
    info = {"framework": "keras_resnet", "xla": xla}
    if variant.endswith("channels_first"):
        nchw = _ours(size, "channels_first")
        nchw.set_weights(ours.get_weights())  # kernels are (h, w, in, out) in both formats
        folded, x = optimize_for_inference(nchw), np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        return lambda: folded.predict_on_batch(x), info
    folded, x = optimize_for_inference(ours, jit_compile=xla), tf.constant(images)
    if "frozen graph" not in variant:
        return lambda: folded.predict_on_batch(images), info
    function = tf.function(lambda x: folded(x, training=False)).get_concrete_function(x)
    frozen = convert_variables_to_constants_v2(function)  # its variables inlined as constants
    return lambda: frozen(x)[0].numpy(), info


def _checked(folder: str, batch: int, candidates: dict[str, tuple[Callable[[], Any], dict[str, Any]]],
             info: Mapping[str, Any] | None = None) -> list[Candidate]:
    """The ``candidates`` (name -> predictor on the images of ``batch``, what it is), each checked to agree with
    keras.applications' probabilities (else an error naming it)."""
    reference, out = np.load(Path(folder) / f"reference_{batch}.npy"), []
    for name, (predict, what) in candidates.items():
        error = float(np.abs(predict() - reference).max())
        if error > CHECK_TOLERANCE:
            raise AssertionError(f"{name} disagrees with keras.applications: max |diff| {error:.2e}")
        out.append(Candidate(name, batch, step=predict, info={**what, **(info or {}),
                                                              "max_abs_diff_vs_applications": error}))
    return out


def keras_candidates(folder: str, batch: int, tag: str, info: Mapping[str, Any],
                     variants: tuple[str, ...] = (FOLDED,)) -> list[Candidate]:
    """The TensorFlow candidates ``variants`` at ``batch``; names end with ``, tag``."""
    images = np.load(Path(folder) / f"images_{batch}.npy")
    ours = _ours(images.shape[1], folder=folder)
    return _checked(folder, batch, {f"{v}, {tag}": _predictor(v, folder, images, ours) for v in variants}, info)


def peer_candidates(folder: str, batch: int, torch_compile: bool) -> list[Candidate]:
    """PyTorch (:func:`benchmarks.torch_resnet.predictors`) and onnxruntime (its defaults: every graph optimisation,
    an intra-op thread per physical core) at ``batch``."""
    import onnxruntime as ort

    from benchmarks import torch_resnet

    images = np.load(Path(folder) / f"images_{batch}.npy")
    net = torch_resnet.copy_keras_weights(torch_resnet.resnet50(), _ours(images.shape[1], folder=folder))
    session = ort.InferenceSession(str(Path(folder) / "resnet50.onnx"), providers=["CPUExecutionProvider"])
    return _checked(folder, batch, {name: (predict, {"framework": "torch"}) for name, predict in
                                    torch_resnet.predictors(net, images, torch_compile).items()}
                    | {"onnxruntime": (lambda: session.run(None, {"images": images})[0], {"framework": "onnxruntime"})})


def litert_candidates(model: str, size: int, variants: tuple[str, ...], calibration_images: int) -> list[Candidate]:
    """``model`` (random weights: latency does not depend on their values) exported to LiteRT in ``variants``
    (TFLite builtin ops), each file at 1 and 2 threads, and without XNNPACK at 1 thread."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    classes, rng = 10 if model == "resnet20" else 1000, np.random.default_rng(0)
    images = rng.uniform(0, 255, (calibration_images, size, size, 3)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="keras_resnet_litert_") as scratch:
        export_model(keras_resnet.get_model(model, weights=None, input_shape=(size, size, 3), classes=classes),
                     Path(scratch) / model, data=ExportData(eval_data=(images, rng.integers(0, classes, len(images))),
                                                            calibration_data=images),
                     options=ExportOptions(formats=("tflite",), variants=variants, latency_runs=1, threads=(1,),
                                           calibration=CalibrationOptions(len(images)), model_name=model,
                                           overwrite=True))
        files = {v: (Path(scratch) / model / "tflite" / f"{model}_{v}.tflite").read_bytes() for v in variants}

    def invoker(variant: str, threads: int, xnnpack: bool) -> Callable[[], None]:
        interpreter = Interpreter(model_content=files[variant], num_threads=threads, experimental_op_resolver_type=(
            OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
        (detail,) = interpreter.get_input_details()
        interpreter.resize_tensor_input(detail["index"], [1, *detail["shape"][1:]])
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], np.zeros([1, *detail["shape"][1:]], np.float32))
        return interpreter.invoke

    configs = [(v, t, True) for v in variants for t in LITERT_THREADS] + [(v, 1, False) for v in WITHOUT_XNNPACK]
    return [Candidate(f"{v} {t}t" + ("" if xnnpack else " no XNNPACK"), 1, step=invoker(v, t, xnnpack),
                      info={"variant": v, "threads": t, "xnnpack": xnnpack, "size_bytes": len(files[v])})
            for v, t, xnnpack in configs]
