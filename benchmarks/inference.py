"""ResNet-50 inference, batch 1 and 32: keras_resnet vs keras.applications vs PyTorch vs onnxruntime.

Every candidate runs the same weights: keras_resnet's ResNet-50 is given
keras.applications' (randomly initialised) weights with ``set_weights``, the
PyTorch twin gets them copied by layer name and onnxruntime runs a tf2onnx
conversion; their outputs are checked against keras.applications before
timing. Candidates, each with its own framework's best known CPU settings:

* keras_resnet: :func:`keras_resnet.inference.optimize_for_inference`
  (batch norm folded into the convolutions), with and without XLA; and the
  candidate settings: built ``channels_first`` (NCHW), frozen into a graph of
  constants (variables inlined, so TensorFlow's grappler sees constant filters
  and oneDNN may keep them in its own layout), that frozen graph converted to
  NCHW by grappler's layout optimizer, and in a worker process
  (:mod:`benchmarks.inference_worker`) with ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1``
  (oneDNN caches reordered weights), with one inter-op or one intra-op thread, a larger oneDNN
  primitive cache or every thread pinned to one core;
* keras.applications: ``predict_on_batch`` as it comes (Keras turns XLA off
  on CPU-only machines) and compiled with ``jit_compile=True``;
* PyTorch: default NCHW, ``channels_last``, ``channels_last`` traced and
  frozen (TorchScript, oneDNN fusions) and, if enabled,
  ``torch.compile`` (Inductor with weight freezing), all under
  ``torch.inference_mode``;
* onnxruntime: all graph optimisations, one intra-op thread per core.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import onnxruntime as ort
import tensorflow as tf
import tf2onnx
import torch
import torch._inductor.config as inductor_config
from tensorflow.core.protobuf import rewriter_config_pb2
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

import keras_resnet
from benchmarks import torch_resnet
from benchmarks.inference_worker import WorkerPredictor
from benchmarks.settings import Settings
from benchmarks.timing import Candidate, interleaved, summarise
from keras_resnet.inference import optimize_for_inference

ONNX_OPSET = 17
CHECK_TOLERANCE = 1e-3  # probabilities; float32 reassociation across frameworks stays far below this


def onnx_session(model: keras.Model, threads: int) -> ort.InferenceSession:
    """tf2onnx conversion of ``model`` (any batch size), in an onnxruntime session with all optimisations."""
    spec = (tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32, name="images"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=ONNX_OPSET)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _torch_predict(net: torch.nn.Module, images: np.ndarray, channels_last: bool, mode: str
                   ) -> Callable[[], np.ndarray]:
    """A batch predictor on a copy of ``net``: ``mode`` is ``"eager"``, ``"script"`` (trace + freeze) or
    ``"compile"``."""
    net = copy.deepcopy(net)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
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


def frozen_function(model: keras.Model, batch: int) -> Any:
    """``model``'s inference function for ``batch`` images with its variables inlined as constants (a concrete
    function returning a list of one tensor)."""
    function = tf.function(lambda x: model(x, training=False))
    spec = tf.TensorSpec((batch, *model.inputs[0].shape[1:]), tf.float32)
    return convert_variables_to_constants_v2(function.get_concrete_function(spec))


def layout_converted_session(frozen: Any) -> tuple[tf.compat.v1.Session, str, str]:
    """The graph of ``frozen`` (:func:`frozen_function`) in a session whose grappler layout optimizer converts it to
    NCHW on the CPU (``RewriterConfig.cpu_layout_conversion = NHWC_TO_NCHW``), TensorFlow's own layout rewrite and the
    nearest it has to onnxruntime's NCHWc pass; with the names to feed the images to and to fetch the probabilities
    from."""
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(frozen.graph.as_graph_def(), name="")
    rewrite = rewriter_config_pb2.RewriterConfig(cpu_layout_conversion=rewriter_config_pb2.RewriterConfig.NHWC_TO_NCHW)
    session = tf.compat.v1.Session(graph=graph, config=tf.compat.v1.ConfigProto(
        graph_options=tf.compat.v1.GraphOptions(rewrite_options=rewrite)))
    return session, frozen.inputs[0].name, frozen.outputs[0].name


def conv_data_formats(session: tf.compat.v1.Session, feed: str, fetch: str, images: np.ndarray) -> dict[str, int]:
    """How many convolutions of each data format ``session`` ran after its rewrites (its partition graphs): whether
    grappler's layout conversion took place (TensorFlow logs "Conversion from NHWC to NCHW is currently not
    available for CPU" when it does not)."""
    metadata = tf.compat.v1.RunMetadata()
    session.run(fetch, {feed: images}, options=tf.compat.v1.RunOptions(output_partition_graphs=True),
                run_metadata=metadata)
    formats = [node.attr["data_format"].s.decode() for graph in metadata.partition_graphs for node in graph.node
               if "Conv2D" in node.op]
    return {layout: formats.count(layout) for layout in sorted(set(formats))}


def _images(batch: int, size: int) -> np.ndarray:
    """The (seeded) input batch every candidate of ``batch`` gets."""
    return np.random.default_rng(batch).uniform(-120, 150, (batch, size, size, 3)).astype(np.float32)


FROZEN_WEIGHTS = {"TF_ONEDNN_ASSUME_FROZEN_WEIGHTS": "1"}  # oneDNN keeps reordered weights across calls
WORKERS = {"keras_resnet folded BN, TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1": {"env": FROZEN_WEIGHTS},
           "keras_resnet folded BN, 1 inter-op thread": {"inter_op": 1},
           "keras_resnet folded BN, TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1, 1 inter-op thread":
           {"env": FROZEN_WEIGHTS, "inter_op": 1},
           "keras_resnet folded BN, 1 intra-op thread": {"intra_op": 1},
           # oneDNN's primitive cache (default 1024 primitives), 4x larger.
           "keras_resnet folded BN, ONEDNN_PRIMITIVE_CACHE_CAPACITY=4096":
           {"env": {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "4096"}},
           "keras_resnet folded BN, threads pinned to cores": {"pin": True}}


def _candidates(batch: int, size: int, models: dict[str, Any], settings: Settings,
                workers: dict[str, WorkerPredictor]) -> list[Candidate]:
    """Every candidate at ``batch``, checked against keras.applications; ``workers`` (name: started
    :class:`WorkerPredictor`) are the process-wide-settings candidates, closed by the caller."""
    images = _images(batch, size)
    keras_info = {"framework": "keras"}
    ours = {**keras_info, "framework": "keras_resnet", "xla": False}
    session = models["onnx"]
    frozen, tensor = frozen_function(models["folded"], batch), tf.constant(images)
    session_nchw, feed, fetch = layout_converted_session(frozen)
    nchw = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    predictors: list[tuple[str, Callable[[], np.ndarray], dict[str, Any]]] = [
        ("keras_resnet folded BN", lambda: models["folded"].predict_on_batch(images), ours),
        ("keras_resnet folded BN, channels_first", lambda: models["folded_nchw"].predict_on_batch(nchw), ours),
        ("keras_resnet folded BN, frozen graph", lambda: frozen(tensor)[0].numpy(), ours),
        ("keras_resnet folded BN, frozen graph, grappler NHWC_TO_NCHW", lambda: session_nchw.run(fetch, {feed: images}),
         {**ours, "conv_data_formats": conv_data_formats(session_nchw, feed, fetch, images)}),
        *((name, worker.probabilities, ours) for name, worker in workers.items()),
        ("keras.applications", lambda: models["applications"].predict_on_batch(images), {**keras_info, "xla": False}),
        ("torch NCHW", _torch_predict(models["torch"], images, False, "eager"), {"framework": "torch"}),
        ("torch channels_last", _torch_predict(models["torch"], images, True, "eager"), {"framework": "torch"}),
        ("torch channels_last TorchScript frozen", _torch_predict(models["torch"], images, True, "script"),
         {"framework": "torch"}),
        ("onnxruntime", lambda: session.run(None, {"images": images})[0], {"framework": "onnxruntime"}),
    ]
    if settings.xla:
        predictors[1:1] = [("keras_resnet folded BN + XLA", lambda: models["folded_xla"].predict_on_batch(images),
                            {**keras_info, "framework": "keras_resnet", "xla": True})]
        predictors[3:3] = [("keras.applications + XLA", lambda: models["applications_xla"].predict_on_batch(images),
                            {**keras_info, "xla": True})]
    if settings.torch_compile:
        predictors.append(("torch channels_last + compile", _torch_predict(models["torch"], images, True, "compile"),
                           {"framework": "torch"}))
    reference = models["applications"].predict_on_batch(images)
    candidates = []
    for name, predict, info in predictors:
        error = float(np.abs(predict() - reference).max())
        if error > CHECK_TOLERANCE:
            raise AssertionError(f"{name} disagrees with keras.applications: max |diff| {error:.2e}")
        worker = workers.get(name)
        candidates.append(Candidate(name, batch, step=None if worker else predict, window=worker and worker.window,
                                    info={**info, "max_abs_diff_vs_applications": error}))
    return candidates


def _models(size: int, threads: int, xla: bool, folder: Path) -> dict[str, Any]:
    """Every contender's ResNet-50, all with keras.applications' weights (random BN statistics too); the XLA
    ones only if ``xla``."""
    applications = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3))
    rng = np.random.default_rng(0)
    for layer in applications.layers:  # non-trivial BN statistics, so folding is really exercised
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.1, channels).astype(np.float32))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels).astype(np.float32))
    # Zero-initialised where weights are set right after: He-normal sampling of 25 M weights is wasted work.
    ours = keras_resnet.ResNet50(weights=None, input_shape=(size, size, 3), kernel_initializer="zeros")
    ours.set_weights(applications.get_weights())
    folded = optimize_for_inference(ours)
    ours.save_weights(folder / "resnet50.weights.h5")  # for the worker processes
    with keras_resnet.image_data_format("channels_first"):
        nchw = keras_resnet.ResNet50(weights=None, input_shape=(3, size, size), kernel_initializer="zeros")
    nchw.set_weights(ours.get_weights())  # kernels are (h, w, in, out) in both formats
    models = {
        "applications": applications, "folded": folded, "folded_nchw": optimize_for_inference(nchw),
        "torch": torch_resnet.copy_keras_weights(torch_resnet.resnet50(), ours).eval(),
        "onnx": onnx_session(folded, threads), "flops": 2 * keras_resnet.count_macs(ours),
    }
    if xla:
        applications_xla = keras.models.clone_model(applications)
        applications_xla.set_weights(applications.get_weights())
        applications_xla.compile(jit_compile=True)
        models.update(applications_xla=applications_xla, folded_xla=optimize_for_inference(ours, jit_compile=True))
    return models


def run(settings: Settings, threads: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Per batch size: every candidate timed, interleaved; ratios of keras_resnet's best to each peer's best."""
    size = settings.inference_size
    log(f"inference: ResNet-50 at {size}x{size}, building and converting the models")
    out: dict[str, Any] = {"image_size": size}
    with tempfile.TemporaryDirectory() as folder:
        models = _models(size, threads, settings.xla, Path(folder))
        for batch in settings.inference_batches:
            log(f"inference: batch {batch}")
            images = Path(folder) / f"images_{batch}.npy"
            np.save(images, _images(batch, size))
            workers: dict[str, WorkerPredictor] = {}
            try:
                for name, kwargs in WORKERS.items():
                    workers[name] = WorkerPredictor(Path(folder) / "resnet50.weights.h5", images, **kwargs)
                candidates = _candidates(batch, size, models, settings, workers)
                results = interleaved(candidates, settings.windows, settings.window_seconds, settings.warmup, log)
            finally:
                for worker in workers.values():
                    worker.close()
            out[f"batch_{batch}"] = summarise(results, models["flops"], "keras_resnet",
                                              ("keras", "torch", "onnxruntime"))
    return out
