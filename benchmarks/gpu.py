"""``python -m benchmarks.gpu``: ResNet-50 training and inference images/s on one NVIDIA GPU, beside NVIDIA's
published TensorFlow figures.

Training: ResNet-50 (He et al. 2016) v1.5, the variant NVIDIA's figures are for, 224x224, 1000 classes, with
keras_resnet's training recipe (SGD, momentum 0.9, weight decay 1e-4, its metrics, a float32 softmax head) under
Keras' ``mixed_float16`` policy (and its loss scaling) with XLA (``jit_compile=True``), batch 256, on one
synthetic in-memory batch of uint8 pixels (cast on the GPU: a quarter of float32's host-to-device copy). A
window is one ``model.fit`` call timed between batch ends, as ``benchmarks.training.fit_window`` does (that
module imports PyTorch; this one needs TensorFlow only). Inference: the same net with batch norm folded
(:func:`keras_resnet.inference.optimize_for_inference`), ``mixed_float16`` and XLA, ``predict_on_batch`` on
inputs held on the GPU, batch 256 (throughput) and batch 1 (latency), interleaved.

If the GPU's name matches a published row (A100, V100), training is printed as a ratio to NVIDIA's 1-GPU
"mixed precision + XLA" figure (:data:`benchmarks.published.PUBLISHED`); otherwise those figures are printed
beside it. The cited rows are for training only, so inference has no published figure.

Budget: the defaults (2 warm-up steps, 3 windows of 10 s per candidate) are sized for the whole run to take
under 8 minutes on a data-centre GPU, most of it XLA compilation. With no GPU visible to TensorFlow it prints
one line and exits 0 before building any model.

``python -m benchmarks.gpu [--batch 256] [--inference-batch 256] [--windows 3] [--window-seconds 10]
[--warmup 2] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.published import PUBLISHED
from benchmarks.timing import Candidate, interleaved

if TYPE_CHECKING:
    import keras

PROG = "python -m benchmarks.gpu"
SKIP = ("benchmarks.gpu: skipped: no NVIDIA GPU visible to TensorFlow "
        "(tf.config.list_physical_devices('GPU') is empty)")
VARIANT, SIZE, CLASSES = "v1.5", 224, 1000
LEARNING_RATE, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 1e-4
POLICY = "mixed_float16"
PUBLISHED_PRECISION = "mixed precision + XLA"
BACKWARD_FACTOR = 3  # a training step costs about 3 forward passes


def published_row(device_name: str) -> dict[str, Any] | None:
    """NVIDIA's mixed precision + XLA row for the GPU that ``device_name`` names (as TensorFlow reports it, e.g.
    ``"NVIDIA A100-SXM4-40GB"``), or None when no published row is for that GPU."""
    for row in PUBLISHED["rows"]:
        gpu = re.search(r"\dx (\w+)", row["system"])[1]  # "DGX A100 (8x A100 40GB)" -> "A100"
        if row["precision"] == PUBLISHED_PRECISION and re.search(rf"\b{gpu}\b", device_name, re.IGNORECASE):
            return row
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256, help="training batch size (default 256, NVIDIA's)")
    parser.add_argument("--inference-batch", type=int, default=256,
                        help="inference throughput batch (default 256); batch 1 is timed too")
    parser.add_argument("--windows", type=int, default=3, help="timed windows per candidate (default 3)")
    parser.add_argument("--window-seconds", type=float, default=10.0, help="target seconds per window (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first, XLA compiling (default 2)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser


def flag_error(args: argparse.Namespace) -> str | None:
    """The first invalid flag, as one line naming it and what is allowed; None if all are valid."""
    for flag in ("batch", "inference_batch", "windows", "warmup"):
        if getattr(args, flag) < 1:
            return f"--{flag.replace('_', '-')} must be a positive integer; received {getattr(args, flag)}"
    if not (math.isfinite(args.window_seconds) and args.window_seconds > 0):
        return f"--window-seconds must be a positive number of seconds; received {args.window_seconds}"
    if args.json is not None and not args.json.parent.is_dir():
        return f"--json must be a file in an existing directory; received {args.json}"
    return None


def _gpu() -> dict[str, Any] | None:
    """The first GPU TensorFlow sees (the only one this process will use), or None if it sees none."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    tf.config.set_visible_devices(gpus[0], "GPU")  # one GPU, as the published 1-GPU figures
    details = tf.config.experimental.get_device_details(gpus[0])
    return {"name": details.get("device_name", gpus[0].name), "gpus_visible": len(gpus),
            "compute_capability": ".".join(map(str, details.get("compute_capability") or ("?",)))}


def _resnet50() -> keras.Model:
    """ResNet-50 v1.5 with keras_resnet's float32 softmax head, in the current dtype policy."""
    import keras_resnet.transfer

    features = keras_resnet.ResNet50(weights=None, include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3),
                                     variant=VARIANT)
    return keras_resnet.transfer.add_head(features, CLASSES)


def training_candidate(batch: int) -> Candidate:
    """ResNet-50 ``fit`` as keras_resnet's recipe compiles it, in ``mixed_float16`` with XLA, on a synthetic batch;
    a window is ``fit`` for ``steps + 1`` steps, timed from the first batch end to the last."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_resnet import training

    with training.dtype_policy(POLICY):
        model = _resnet50()
        training.apply_weight_decay(model, WEIGHT_DECAY)
        training.compile_model(model, LEARNING_RATE, MOMENTUM, CLASSES, jit_compile=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch, SIZE, SIZE, 3), dtype=np.uint8)
    dataset = tf.data.Dataset.from_tensors((images, rng.integers(0, CLASSES, batch))).repeat()

    def window(steps: int) -> float:  # a batch-end callback makes Keras read the logs, which waits for the GPU
        times: list[float] = []
        timer = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: times.append(time.perf_counter()))
        model.fit(dataset, epochs=1, steps_per_epoch=steps + 1, verbose=0, shuffle=False, callbacks=[timer])
        return times[-1] - times[0]

    return Candidate(f"training, {POLICY} + XLA, batch {batch}", batch, window=window,
                     info={"batch": batch, "policy": POLICY, "xla": True})


def inference_candidates(batches: tuple[int, ...], device: str = "/GPU:0") -> list[Candidate]:
    """``predict_on_batch`` of the BN-folded ResNet-50 in ``mixed_float16`` with XLA, per batch size, on inputs
    held on ``device``."""
    import tensorflow as tf

    from keras_resnet import training
    from keras_resnet.inference import optimize_for_inference

    with training.dtype_policy(POLICY):
        folded = optimize_for_inference(_resnet50(), jit_compile=True)
    candidates = []
    for batch in batches:
        with tf.device(device):
            images = tf.random.uniform((batch, SIZE, SIZE, 3), 0.0, 255.0, seed=batch)
        candidates.append(Candidate(f"inference, folded BN, {POLICY} + XLA, batch {batch}", batch,
                                    step=lambda images=images: folded.predict_on_batch(images),
                                    info={"batch": batch, "policy": POLICY, "xla": True}))
    return candidates


def run(args: argparse.Namespace, device: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    """Training, then inference, each timed in interleaved windows; the published row and the ratio to it."""
    import keras

    import keras_resnet

    forward = 2 * keras_resnet.count_macs(_resnet50())
    log(f"training: ResNet-50 {VARIANT}, batch {args.batch} (the warm-up compiles with XLA)")
    trained = interleaved([training_candidate(args.batch)], args.windows, args.window_seconds, args.warmup, log)
    keras.backend.clear_session()
    log(f"inference: batches {args.inference_batch} and 1")
    batches = tuple(dict.fromkeys((args.inference_batch, 1)))
    inferred = interleaved(inference_candidates(batches), args.windows, args.window_seconds, args.warmup, log)
    [measured] = trained.values()
    training_row = {**measured.to_dict(), "tflops": round(measured.median * BACKWARD_FACTOR * forward / 1e12, 2)}
    row = published_row(device["name"])
    return {"device": device, "training": training_row, "published": row, "published_source": PUBLISHED["source"],
            "inference": [{**m.to_dict(), "tflops": round(m.median * forward / 1e12, 2)} for m in inferred.values()],
            "ratio_to_published": round(training_row["median_items_per_s"] / row["gpus_1"], 3) if row else None}


def _print(results: dict[str, Any]) -> None:
    for r in [results["training"], *results["inference"]]:
        print(f"{r['name']}: {r['median_items_per_s']:.1f} img/s (windows {r['min_items_per_s']:.1f}-"
              f"{r['max_items_per_s']:.1f}), {r['median_ms_per_step']:.2f} ms per step, {r['tflops']:.1f} TFLOP/s")
    row = results["published"]
    if row:
        print(f"training vs NVIDIA's published 1 GPU of {row['system']}, {row['precision']}, batch "
              f"{row['batch_per_gpu']}, {row['gpus_1']} img/s: {results['ratio_to_published']:.2f}x")
    else:
        print(f"no published row for {results['device']['name']}; NVIDIA's 1-GPU {PUBLISHED_PRECISION} training: "
              + ", ".join(f"{r['system']} {r['gpus_1']} img/s (batch {r['batch_per_gpu']})"
                          for r in PUBLISHED["rows"] if r["precision"] == PUBLISHED_PRECISION))
    print(f"published figures cited, not measured: {results['published_source']}")


def main(argv: list[str] | None = None) -> int:
    """Check the flags, look for a GPU (exit 0 with one line if there is none), measure, print, write ``--json``."""
    args = _parser().parse_args(argv)
    error = flag_error(args)
    if error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    device = _gpu()
    if device is None:
        print(SKIP)
        return 0
    import keras
    import tensorflow as tf

    clock = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - clock:5.0f} s] {message}", flush=True)

    log(f"{device['name']} (compute capability {device['compute_capability']}), TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}")
    results = {"command": shlex.join([*PROG.split(), *(sys.argv[1:] if argv is None else argv)]),
               "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
               "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               **run(args, device, log), "duration_s": round(time.perf_counter() - clock, 1)}
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
