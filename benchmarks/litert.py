"""LiteRT (ai-edge-litert) batch-1 latency of the fp32, dynamic, fp16 and int8 exports, and their file sizes.

The files are written by this repository's exporter (:func:`export.export_model`, TFLite builtin ops) from
ResNet-20 (32x32, 10 classes) and ResNet-50 with random weights (latency does not depend on their values), and timed
with the bare interpreter at 1 and 2 threads with LiteRT's default XNNPACK delegate; fp32 and int8 also without
default delegates (the reference kernels), to show what XNNPACK contributes. A model's files share one interleaved run.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

import keras_resnet
from benchmarks.settings import Settings
from benchmarks.timing import Candidate, interleaved
from export import CalibrationOptions, ExportData, ExportOptions, export_model

THREADS = (1, 2)
WITHOUT_XNNPACK = ("fp32", "int8")  # also timed without default delegates, at 1 thread


def _invoker(path: Path, threads: int, xnnpack: bool) -> Callable[[], None]:
    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_path=str(path), num_threads=threads, experimental_op_resolver_type=resolver)
    (detail,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(detail["index"], [1, *detail["shape"][1:]])
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], np.zeros([1, *detail["shape"][1:]], np.float32))
    return interpreter.invoke


def run(settings: Settings) -> dict[str, Any]:
    """Per model: latency rows, file sizes and the int8-over-fp32 speed-up at each thread count."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="keras_resnet_litert_") as scratch:
        for name in settings.litert_models:
            size, classes = (32, 10) if name == "resnet20" else (settings.litert_size, 1000)
            model = keras_resnet.get_model(name, weights=None, input_shape=(size, size, 3), classes=classes)
            variants = settings.litert_variants
            print(f"litert: exporting {name} ({' '.join(variants)})", flush=True)
            rng = np.random.default_rng(0)
            images = rng.uniform(0, 255, (settings.calibration_images, size, size, 3)).astype(np.float32)
            options = ExportOptions(formats=("tflite",), variants=variants, calibration=CalibrationOptions(len(images)),
                                    latency_runs=1, threads=(1,), model_name=name, overwrite=True)
            data = ExportData(eval_data=(images, rng.integers(0, classes, len(images))), calibration_data=images)
            export_model(model, Path(scratch) / name, options=options, data=data)
            files = {v: Path(scratch) / name / "tflite" / f"{name}_{v}.tflite" for v in variants}
            configs = [(v, t, True) for v in variants for t in THREADS] + [(v, 1, False) for v in WITHOUT_XNNPACK]
            timed = [Candidate(f"{v} {t}t" + ("" if xnnpack else " no XNNPACK"), 1, step=_invoker(files[v], t, xnnpack),
                               info={"variant": v, "threads": t, "xnnpack": xnnpack,
                                     "size_bytes": files[v].stat().st_size}) for v, t, xnnpack in configs]
            rows = interleaved(timed, settings.windows, settings.litert_window_seconds, settings.warmup,
                               functools.partial(print, flush=True))
            ms = {row["name"]: row["median_ms_per_step"] for row in rows}
            out[name] = {"input_shape": [size, size, 3], "rows": rows,
                         "int8_speedup": {str(t): round(ms[f"fp32 {t}t"] / ms[f"int8 {t}t"], 3) for t in THREADS},
                         "xnnpack_speedup": {v: round(ms[f"{v} 1t no XNNPACK"] / ms[f"{v} 1t"], 3)
                                             for v in WITHOUT_XNNPACK}}
    return out
