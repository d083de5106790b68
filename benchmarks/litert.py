"""LiteRT (ai-edge-litert) batch-1 latency of the fp32, dynamic, fp16 and int8 exports, and their file sizes.

The files are made by this repository's exporter (:func:`export.export_model`,
TFLite builtin ops only), from ResNet-20 (32x32, 10 classes) and ResNet-50
(224x224, 1000 classes) with random weights: latency does not depend on the
weight values. Each file is timed with the bare interpreter at 1 and 2
threads with LiteRT's default XNNPACK delegate; fp32 and int8 are also timed
without default delegates (LiteRT's reference builtin kernels) to show what
XNNPACK contributes. Every file of one model is timed in the same
interleaved run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

import keras_resnet
from benchmarks.settings import Settings
from benchmarks.timing import Candidate, interleaved
from export import CalibrationOptions, ExportData, ExportOptions, export_model

VARIANTS = ("fp32", "dynamic", "fp16", "int8")
THREADS = (1, 2)
WITHOUT_XNNPACK = ("fp32", "int8")  # also timed without default delegates, at 1 thread
TARGET_INT8_SPEEDUP = 2.0


def _model(name: str, size: int) -> keras.Model:
    if name == "resnet20":
        return keras_resnet.get_model("resnet20", input_shape=(32, 32, 3), classes=10)
    return keras_resnet.ResNet50(weights=None, input_shape=(size, size, 3))


def export_files(model: keras.Model, folder: Path, calibration_images: int) -> dict[str, Path]:
    """The four TFLite variants of ``model``, written by :func:`export.export_model` under ``folder``."""
    shape = model.inputs[0].shape[1:]
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (calibration_images, *shape)).astype(np.float32)
    labels = rng.integers(0, model.outputs[0].shape[-1], calibration_images)
    options = ExportOptions(formats=("tflite",), variants=VARIANTS, calibration=CalibrationOptions(calibration_images),
                            latency_runs=1, threads=(1,), model_name=model.name, overwrite=True)
    export_model(model, folder, options=options, data=ExportData(eval_data=(images, labels), calibration_data=images))
    return {v: folder / "tflite" / f"{model.name}_{v}.tflite" for v in VARIANTS}


def _invoker(path: Path, threads: int, xnnpack: bool) -> Callable[[], None]:
    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_path=str(path), num_threads=threads, experimental_op_resolver_type=resolver)
    (detail,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(detail["index"], [1, *detail["shape"][1:]])
    interpreter.allocate_tensors()
    if detail["dtype"] != np.float32:
        raise ValueError(f"{path.name}: expected a float32 input, found {detail['dtype']}")
    interpreter.set_tensor(detail["index"], np.zeros([1, *detail["shape"][1:]], np.float32))
    return interpreter.invoke


def _candidates(files: dict[str, Path]) -> list[Candidate]:
    configs = [(v, t, True) for v in VARIANTS for t in THREADS] + [(v, 1, False) for v in WITHOUT_XNNPACK]
    return [Candidate(f"{variant} {threads}t" + ("" if xnnpack else " no XNNPACK"), 1,
                      step=_invoker(files[variant], threads, xnnpack),
                      info={"variant": variant, "threads": threads, "xnnpack": xnnpack,
                            "size_bytes": files[variant].stat().st_size})
            for variant, threads, xnnpack in configs]


def run(settings: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Per model: latency rows, file sizes and the int8-over-fp32 speed-up at each thread count."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="keras_resnet_litert_") as scratch:
        for name in settings.litert_models:
            model = _model(name, settings.litert_size)
            log(f"litert: exporting {name} ({' '.join(VARIANTS)})")
            files = export_files(model, Path(scratch) / name, settings.calibration_images)
            results = interleaved(_candidates(files), settings.windows, settings.litert_window_seconds,
                                  settings.warmup, log)
            latency = {m.name: m.ms_per_step for m in results.values()}
            out[name] = {
                "input_shape": list(model.inputs[0].shape[1:]),
                "rows": [m.to_dict() for m in results.values()],
                "int8_speedup": {str(t): round(latency[f"fp32 {t}t"] / latency[f"int8 {t}t"], 3) for t in THREADS},
                "xnnpack_speedup": {v: round(latency[f"{v} 1t no XNNPACK"] / latency[f"{v} 1t"], 3)
                                    for v in WITHOUT_XNNPACK},
            }
    return out
