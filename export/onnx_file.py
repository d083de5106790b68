"""ONNX files for onnxruntime servers (Triton's ORT backend, Windows ML, C#/Java/C++ services), and their checks.

Written with tf2onnx from the model's frozen graph, not with Keras' own
exporter (``model.export(format="onnx")``): that one hands tf2onnx the
unfrozen ``tf.function``, whose captured constants (a ``Normalization``
layer's mean and variance, as in every keras_resnet training run) become
required graph inputs, so the file does not run on ``images`` alone.
Freezing first (``convert_variables_to_constants_v2``) folds every captured
variable and constant into the graph. The file has this export's names:
input ``images`` ``(batch, H, W, C)`` float32 with a dynamic ``batch``
dimension, output ``probabilities``. tf2onnx only logs the TensorFlow ops it
cannot convert and writes an unusable file; they are caught here and
reported with the layer they come from.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from export.errors import ExportError

IMAGES, PROBABILITIES, BATCH_DIM = "images", "probabilities", "batch"
BATCH = 256
WARMUP_RUNS = 5
REQUIRED = ("onnxruntime", "tf2onnx", "onnx")
_UNSUPPORTED = re.compile(r"Tensorflow op \[(?P<node>[^:\]]+): (?P<op>[^\]]+)\] is not supported")


def require() -> None:
    """Refuse ``onnx`` in one line when a package it needs is not installed (checked without importing them)."""
    missing = [name for name in REQUIRED if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError("formats", f"onnx needs {', '.join(missing)} (pip install -r requirements-bench.txt), "
                          "which is not installed; leave onnx out of --formats")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _tf2onnx_errors() -> Iterator[list[str]]:
    collect, logger = _Collect(), logging.getLogger("tf2onnx")
    logger.addHandler(collect)
    try:
        yield collect.messages
    finally:
        logger.removeHandler(collect)


def _layer(model: Any, node: str) -> str:
    """The model's layer a traced node name (``functional_1/conv_3/Op``) comes from, as ``'name' (Class)``."""
    layers = {layer.name: layer for layer in model.layers}
    for part in node.split("/"):
        name = part
        while name and name not in layers and re.search(r"_\d+$", name):
            name = re.sub(r"_\d+$", "", name)
        if name in layers and layers[name] is not model:
            return f"{name!r} ({type(layers[name]).__name__})"
    return f"node {node!r}"


def write(model: Any, path: Path) -> None:
    """``model`` as an ONNX file at ``path`` (see the module docstring)."""
    import onnx
    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    @tf.function(input_signature=[tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32, name=IMAGES)])
    def serve(images: tf.Tensor) -> tf.Tensor:
        return model(images, training=False)

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    (images,), (output,) = frozen.inputs, frozen.outputs
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)  # tf2onnx's calls of TensorFlow 1 graph utilities warn that they are deprecated
    try:
        with _tf2onnx_errors() as errors:
            proto, _ = tf2onnx.convert.from_graph_def(frozen.graph.as_graph_def(), input_names=[images.name],
                                                      output_names=[output.name])
    finally:
        tf_logger.setLevel(level)
    unsupported = [m.groupdict() for m in map(_UNSUPPORTED.search, errors) if m]
    if unsupported:
        where = "; ".join(f"layer {_layer(model, u['node'])} uses TensorFlow op {u['op']}" for u in unsupported)
        raise ExportError("formats", f"onnx: the model cannot be converted ({where}, which tf2onnx does not "
                          "support); leave onnx out of --formats")
    renames = {images.name: IMAGES, output.name: PROBABILITIES}
    for node in proto.graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    for value in (*proto.graph.input, *proto.graph.output):
        value.name = renames.get(value.name, value.name)
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def _session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def predict(path: Path, images: np.ndarray, threads: int = 2) -> np.ndarray:
    """``probabilities`` of the ONNX file at ``path`` in onnxruntime, in batches."""
    session = _session(path, threads)
    return np.concatenate([session.run([PROBABILITIES], {IMAGES: images[i:i + BATCH]})[0]
                           for i in range(0, len(images), BATCH)])


def latency_ms(path: Path, image: np.ndarray, threads: int, runs: int) -> float:
    """Median wall time (ms) of ``runs`` batch-1 ``run()`` calls on ``image``, after a few warm-up runs."""
    session, feed = _session(path, threads), {IMAGES: image[np.newaxis]}
    times = []
    for run in range(WARMUP_RUNS + runs):
        start = time.perf_counter()
        session.run([PROBABILITIES], feed)
        if run >= WARMUP_RUNS:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
