"""Run TFLite files in LiteRT (``ai_edge_litert``): predictions and batch-1 latency.

Files are driven through the bare interpreter (a file has one input and one
output: ``serving_default``'s ``images`` and ``probabilities``). int8 inputs
and outputs are (de)quantized with the scale and zero point the file
declares, so every variant is compared in float probabilities.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

BATCH = 256
WARMUP_RUNS = 5


def _quantize(detail: dict, images: np.ndarray) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return images
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(images / scale + zero_point), info.min, info.max).astype(detail["dtype"])


def _dequantize(detail: dict, output: np.ndarray) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return output
    scale, zero_point = detail["quantization"]
    return (output.astype(np.float32) - zero_point) * scale


def predict(path: Path, images: np.ndarray, threads: int = 2) -> np.ndarray:
    """Float ``probabilities`` of the TFLite file at ``path`` for model-ready ``images``, in batches.

    The bare interpreter's input is resized to :data:`BATCH` images once (and
    once more for the last, shorter batch), so each invocation runs a whole batch.
    """
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    (inputs,), (outputs,) = interpreter.get_input_details(), interpreter.get_output_details()
    results, allocated = [], None
    for start in range(0, len(images), BATCH):
        batch = images[start:start + BATCH]
        if len(batch) != allocated:
            interpreter.resize_tensor_input(inputs["index"], [len(batch), *images.shape[1:]])
            interpreter.allocate_tensors()
            allocated = len(batch)
        interpreter.set_tensor(inputs["index"], _quantize(inputs, batch))
        interpreter.invoke()
        results.append(_dequantize(outputs, interpreter.get_tensor(outputs["index"])))
    return np.concatenate(results)


def latency_ms(path: Path, image: np.ndarray, threads: int, runs: int) -> float:
    """Median wall time (ms) of ``runs`` batch-1 ``invoke()`` calls on ``image``, after a few warm-up runs.

    Times the bare interpreter (no signature runner bookkeeping), as an app would call it.
    """
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    (detail,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(detail["index"], [1, *image.shape])
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], _quantize(detail, image[np.newaxis]))
    times = []
    for run in range(WARMUP_RUNS + runs):
        start = time.perf_counter()
        interpreter.invoke()
        if run >= WARMUP_RUNS:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
