"""The candidates each section times, built in a benchmark worker (the nets of He et al. 2016).

Training: CIFAR ResNet-20 at 32x32 (§4.2), keras_resnet's ``model.fit`` and the same net in PyTorch
(:mod:`benchmarks.torch_resnet`), all on one seeded in-memory batch with SGD, momentum 0.9 and weight decay 1e-4: the
figure is the step alone. keras_resnet compiles as its users do (``keras_resnet.training.recipe``), is timed between
batch ends (per-``fit`` set-up left out) and varies per model (:data:`VARIANTS`; process-wide settings are the
worker's). Inference: ResNet-50 in keras_resnet (batch norm folded into the convolutions; with XLA, ``channels_first``
or frozen into a graph of constants, whose filters grappler then sees as constant), keras.applications, PyTorch and
onnxruntime (the export's ONNX file) on the same weights and images, each checked against keras.applications'
probabilities first. LiteRT: the export's files at batch 1 on the bare interpreter, with its default XNNPACK delegate
and without (the reference kernels), to show what XNNPACK adds.
"""

from __future__ import annotations

import contextlib
import functools
import io
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

import keras_resnet
from benchmarks.settings import APPLICATIONS, FOLDED, LITERT_THREADS, WITHOUT_XNNPACK
from benchmarks.workers import Candidate, Worker
from export import CalibrationOptions, ExportData, ExportOptions, export_model
from keras_resnet import transfer
from keras_resnet.formats import dtype_policy
from keras_resnet.inference import optimize_for_inference
from keras_resnet.training import recipe

MODEL, CLASSES, SIZE = "resnet20", 10, 32
LEARNING_RATE, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 1e-4
STEPS_PER_EXECUTION = 8
BACKWARD_FACTOR = 3  # a training step costs about 3 forward passes (forward, then twice that backward)
CHECK_TOLERANCE = 1e-3  # probabilities; float32 reassociation across frameworks stays far below this
CONVERSIONS: dict[str, tuple[Worker, Future]] = {}  # in a worker: the ONNX conversions prepare started, by folder
#: keras_resnet's per-model variants: name suffix -> keyword arguments of :func:`keras_model`.
VARIANTS: dict[str, dict[str, Any]] = {
    "": {}, " + XLA": {"jit_compile": True}, ", channels_first": {"data_format": "channels_first"},
    f", steps_per_execution {STEPS_PER_EXECUTION}": {"steps_per_execution": STEPS_PER_EXECUTION},
    ", mixed_bfloat16": {"precision": "mixed_bfloat16"},
}


def synthetic_batch(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded batch (random NHWC images, random labels) every candidate trains on."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((batch, SIZE, SIZE, 3), dtype=np.float32), rng.integers(0, CLASSES, batch)


def fit_window(fit: Callable[[int, keras.callbacks.Callback], Any]) -> Callable[[int], float]:
    """A window: ``fit(steps, timer)`` runs ``steps + 1`` executions calling back ``timer`` at each one's end; the
    seconds from the first end to the last (per-``fit`` set-up left out)."""
    def window(steps: int) -> float:
        times: list[float] = []
        fit(steps, keras.callbacks.LambdaCallback(on_train_batch_end=lambda *a, **k: times.append(time.perf_counter())))
        return times[-1] - times[0]

    return window


def model_fit(model: keras.Model, images: np.ndarray, labels: np.ndarray, per_execution: int = 1) -> Callable:
    """A window of ``model.fit`` on a ``tf.data`` dataset repeating one batch."""
    data = tf.data.Dataset.from_tensors((images, labels)).repeat()
    return fit_window(lambda steps, timer: model.fit(data, steps_per_epoch=(steps + 1) * per_execution, verbose=0,
                                                     callbacks=[timer]))


def cli_fit(batch: int, steps: int, timer: keras.callbacks.Callback) -> None:
    """:func:`keras_resnet.training.fit` as the README runs it (Fashion-MNIST through the tf.data pipeline, every
    callback) at ``batch``: one epoch of ``steps + 1`` steps."""
    from keras_resnet import training

    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        training.fit(model_dir=out, epochs=1, global_batch_size=batch, train_examples=(steps + 1) * batch,
                     eval_examples=batch, callbacks=[timer])


def keras_model(strategy: Any = None, jit_compile: bool = False, precision: str = "none",
                data_format: str = "channels_last", steps_per_execution: int = 1) -> keras.Model:
    """ResNet-20 compiled with keras_resnet's recipe (inside ``strategy``'s scope if given), in ``precision`` with a
    float32 softmax head, built in ``data_format``."""
    shape = (SIZE, SIZE, 3) if data_format == "channels_last" else (3, SIZE, SIZE)
    with (dtype_policy(precision), keras_resnet.image_data_format(data_format),
          strategy.scope() if strategy else contextlib.nullcontext()):
        model = transfer.add_head(keras_resnet.get_model(MODEL, weights=None, include_top=False, pooling="avg",
                                                         input_shape=shape), CLASSES)
        recipe.apply_weight_decay(model, WEIGHT_DECAY)
        recipe.compile_model(model, LEARNING_RATE, MOMENTUM, CLASSES, jit_compile=jit_compile,
                             steps_per_execution=steps_per_execution)
    return model


def training_candidates(batch: int, tag: str, info: Mapping[str, Any], variants: tuple[str, ...] = ("",),
                        user_path_batches: tuple[int, ...] = ()) -> list[Candidate]:
    """keras_resnet's ``fit`` in each of ``variants`` (keys of :data:`VARIANTS`) and, at ``user_path_batches``,
    ``keras_resnet.training.fit`` (the command line's path); names end with ``, tag``."""
    images, labels = synthetic_batch(batch)
    candidates = []
    for variant in variants:
        options = VARIANTS[variant]
        data_format, per_execution = options.get("data_format", "channels_last"), options.get("steps_per_execution", 1)
        x = images.transpose(0, 3, 1, 2).copy() if data_format == "channels_first" else images
        candidates.append(Candidate(
            f"keras_resnet fit{variant}, {tag}", batch * per_execution,
            window=model_fit(keras_model(**options), x, labels, per_execution),
            info={"framework": "keras_resnet", "precision": "bf16" if "precision" in options else "fp32",
                  "xla": bool(options.get("jit_compile")), "data_format": data_format,
                  "steps_per_execution": per_execution, **info}))
    return candidates + [Candidate(f"keras_resnet.training.fit (CLI path), batch {b}, {tag}", b,
                                   window=fit_window(functools.partial(cli_fit, b)),
                                   info={"framework": "keras_cli", "precision": "fp32", **info})
                         for b in user_path_batches]


def replica_candidates(batch: int) -> list[Candidate]:
    """The scale plan: ``fit`` on 1 and 2 replicas (logical CPUs the worker split, under ``MirroredStrategy``) at one
    global batch; they share the same cores: this measures what replication costs (the split, the all-reduce)."""
    devices, data = [d.name for d in tf.config.list_logical_devices("CPU")], synthetic_batch(batch)
    return [Candidate(f"{n} replica(s)", batch, info={"replicas": n, "per_replica_batch": batch // n},
                      window=model_fit(keras_model(tf.distribute.MirroredStrategy(devices[:n])), *data))
            for n in (1, 2)]


def training_peers(batch: int, torch_compile: bool) -> list[Candidate]:
    """PyTorch's ResNet-20 on the seeded batch (:func:`benchmarks.torch_resnet.training_candidates`)."""
    from benchmarks import torch_resnet

    return torch_resnet.training_candidates(*synthetic_batch(batch), CLASSES, torch_compile, lr=LEARNING_RATE,
                                            momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)


def training_flops() -> int:
    """FLOPs of one training image: 2 per multiply-accumulate, times :data:`BACKWARD_FACTOR`."""
    return 2 * BACKWARD_FACTOR * keras_resnet.count_macs(keras_model())


def prepare(folder: str, size: int, batches: tuple[int, ...]) -> int:
    """Write to ``folder`` keras.applications' ResNet-50 weights (batch-norm statistics random, to exercise folding),
    the same in keras_resnet's, seeded images and their reference probabilities, and start the export's ONNX file (a
    worker of its own: tf2onnx holds gigabytes; :func:`inference_peers` waits for it); one image's forward FLOPs."""
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
    converter = Worker("ONNX conversion", {})
    CONVERSIONS[folder] = converter, converter.submit(f"{__name__}:write_onnx", folder=folder, size=size)
    return 2 * keras_resnet.count_macs(ours)


def write_onnx(folder: str, size: int) -> None:
    """keras_resnet's folded ResNet-50 as the ONNX file of this repository's export (any batch size)."""
    from export import onnx_file

    onnx_file.write(optimize_for_inference(_ours(size, folder=folder)), Path(folder) / "resnet50.onnx")


def _ours(size: int, data_format: str = "channels_last", folder: str | None = None) -> keras.Model:
    """keras_resnet's ResNet-50 with the weights :func:`prepare` wrote to ``folder``, else zeros (set right after)."""
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


def inference_candidates(folder: str, batch: int, tag: str, info: Mapping[str, Any],
                         variants: tuple[str, ...] = (FOLDED,)) -> list[Candidate]:
    """The TensorFlow candidates ``variants`` at ``batch``; names end with ``, tag``."""
    images = np.load(Path(folder) / f"images_{batch}.npy")
    ours = _ours(images.shape[1], folder=folder)
    return _checked(folder, batch, {f"{v}, {tag}": _predictor(v, folder, images, ours) for v in variants}, info)


def inference_peers(folder: str, batch: int, torch_compile: bool) -> list[Candidate]:
    """PyTorch (:func:`benchmarks.torch_resnet.predictors`) and onnxruntime (its defaults: every graph optimisation,
    an intra-op thread per physical core) at ``batch``."""
    import onnxruntime as ort

    from benchmarks import torch_resnet

    images = np.load(Path(folder) / f"images_{batch}.npy")
    net = torch_resnet.copy_keras_weights(torch_resnet.resnet50(), _ours(images.shape[1], folder=folder))
    if folder in CONVERSIONS:  # the first batch's peers wait for the ONNX file
        converter, conversion = CONVERSIONS.pop(folder)
        converter.result(conversion)
        converter.close()
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
