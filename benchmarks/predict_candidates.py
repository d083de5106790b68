"""ResNet-50 inference candidates, built in a benchmark worker: keras_resnet, keras.applications, PyTorch and
onnxruntime on the same weights and images, each checked against keras.applications' probabilities before timing.

keras_resnet's variants (:data:`benchmarks.settings.INFERENCE_VARIANTS`): batch norm folded into the convolutions
(:func:`keras_resnet.inference.optimize_for_inference`), with XLA, built ``channels_first``, and frozen into a graph of
constants (grappler then sees constant filters). PyTorch: NCHW, ``channels_last``, TorchScript-frozen and
``torch.compile`` (Inductor, weights frozen), under ``torch.inference_mode``; onnxruntime: the export's ONNX file.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

import keras_resnet
from benchmarks.settings import APPLICATIONS, FOLDED
from benchmarks.timing import Candidate
from keras_resnet.inference import optimize_for_inference

CHECK_TOLERANCE = 1e-3  # probabilities; float32 reassociation across frameworks stays far below this


def prepare(candidates: Mapping[str, Candidate], folder: str, size: int, batches: tuple[int, ...]) -> int:
    """Write to ``folder`` keras.applications' ResNet-50 weights (batch-norm statistics random, so that folding is
    exercised), the same in keras_resnet's, seeded images and their reference probabilities (a ``call`` target);
    returns one image's forward FLOPs."""
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
    # tf2onnx holds gigabytes for a ResNet-50, which TensorFlow keeps: a process of its own (workers are daemons)
    subprocess.run([sys.executable, "-c", f"from benchmarks.predict_candidates import _write_onnx; "
                    f"_write_onnx({folder!r}, {size})"], check=True, cwd=Path(__file__).resolve().parents[1])
    return 2 * keras_resnet.count_macs(ours)


def _write_onnx(folder: str, size: int) -> None:
    """keras_resnet's folded ResNet-50 as the ONNX file of this repository's export (any batch size)."""
    from export import onnx_file

    ours = _ours(size)
    ours.load_weights(Path(folder) / "resnet50.weights.h5")
    onnx_file.write(optimize_for_inference(ours), Path(folder) / "resnet50.onnx")


def _ours(size: int, data_format: str = "channels_last") -> keras.Model:
    """keras_resnet's ResNet-50, zero-initialised (its weights are set right after: sampling 25 M is wasted)."""
    shape = (size, size, 3) if data_format == "channels_last" else (3, size, size)
    with keras_resnet.image_data_format(data_format):
        return keras_resnet.ResNet50(weights=None, input_shape=shape, kernel_initializer="zeros")


def _predictor(variant: str, folder: Path, images: np.ndarray,
               ours: keras.Model) -> tuple[Callable[[], np.ndarray], dict[str, Any]]:
    """``variant``'s batch predictor on ``images`` (from ``ours``, keras_resnet's model), and what it is."""
    xla, size = variant.endswith("XLA"), images.shape[1]
    if variant.startswith(APPLICATIONS):
        model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3))
        model.load_weights(folder / "applications.weights.h5")
        model.compile(jit_compile=xla)
        return lambda: model.predict_on_batch(images), {"framework": "keras", "xla": xla}
    info = {"framework": "keras_resnet", "xla": xla}
    if variant.endswith("channels_first"):
        nchw = _ours(size, "channels_first")
        nchw.set_weights(ours.get_weights())  # kernels are (h, w, in, out) in both formats
        folded, x = optimize_for_inference(nchw), np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        return lambda: folded.predict_on_batch(x), info
    folded = optimize_for_inference(ours, jit_compile=xla)
    if "frozen graph" not in variant:
        return lambda: folded.predict_on_batch(images), info
    return _frozen(folded, images), info


def _checked(name: str, predict: Callable[[], np.ndarray], info: dict[str, Any], reference: np.ndarray) -> Candidate:
    """A candidate whose predictions agree with keras.applications' (else an error naming it)."""
    error = float(np.abs(predict() - reference).max())
    if error > CHECK_TOLERANCE:
        raise AssertionError(f"{name} disagrees with keras.applications: max |diff| {error:.2e}")
    return Candidate(name, len(reference), step=predict, info={**info, "max_abs_diff_vs_applications": error})


def _inputs(folder: str, batch: int) -> tuple[Path, np.ndarray, np.ndarray, keras.Model]:
    """The ``folder`` :func:`prepare` wrote, its images and reference at ``batch``, keras_resnet's model."""
    path = Path(folder)
    images, reference = np.load(path / f"images_{batch}.npy"), np.load(path / f"reference_{batch}.npy")
    ours = _ours(images.shape[1])
    ours.load_weights(path / "resnet50.weights.h5")
    return path, images, reference, ours


def keras_candidates(folder: str, batch: int, tag: str, info: Mapping[str, Any],
                     variants: tuple[str, ...] = (FOLDED,)) -> list[Candidate]:
    """The TensorFlow candidates ``variants`` at ``batch``; names end with ``, tag``."""
    path, images, reference, ours = _inputs(folder, batch)
    built = {variant: _predictor(variant, path, images, ours) for variant in variants}
    return [_checked(f"{v}, {tag}", predict, {**what, **info}, reference) for v, (predict, what) in built.items()]


def peer_candidates(folder: str, batch: int, threads: int, torch_compile: bool) -> list[Candidate]:
    """PyTorch (eager NCHW and channels_last, TorchScript frozen, optionally ``torch.compile``) and onnxruntime
    (``threads`` intra-op threads) at ``batch``."""
    from benchmarks import torch_resnet

    _, images, reference, ours = _inputs(folder, batch)
    net = torch_resnet.copy_keras_weights(torch_resnet.resnet50(), ours).eval()
    modes = {"torch NCHW": (False, "eager"), "torch channels_last": (True, "eager"),
             "torch channels_last TorchScript frozen": (True, "script"),
             **({"torch channels_last + compile": (True, "compile")} if torch_compile else {})}
    candidates = [_checked(name, _torch_predict(net, images, *mode), {"framework": "torch"}, reference)
                  for name, mode in modes.items()]
    import onnxruntime as ort

    options = ort.SessionOptions()  # every graph optimisation, as by default
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(Path(folder) / "resnet50.onnx"), options, providers=["CPUExecutionProvider"])
    return [*candidates, _checked("onnxruntime", lambda: session.run(None, {"images": images})[0],
                                  {"framework": "onnxruntime"}, reference)]


def _torch_predict(net: Any, images: np.ndarray, channels_last: bool, mode: str) -> Callable[[], np.ndarray]:
    """A predictor on a copy of ``net``: ``mode`` ``"eager"``, ``"script"`` (trace + freeze) or ``"compile"``."""
    import torch
    import torch._inductor.config as inductor_config

    net, x = copy.deepcopy(net), torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    if mode == "script":
        with torch.inference_mode():
            net = torch.jit.freeze(torch.jit.trace(net, x))
    elif mode == "compile":
        inductor_config.freezing = True
        net = torch.compile(net)

    def predict() -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(net(x), dim=-1).numpy()

    return predict


def _frozen(model: keras.Model, images: np.ndarray) -> Callable[[], Any]:
    """``model`` for ``images``' batch with its variables inlined as constants."""
    function = tf.function(lambda x: model(x, training=False))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(tf.TensorSpec(images.shape, tf.float32)))
    tensor = tf.constant(images)
    return lambda: frozen(tensor)[0].numpy()
