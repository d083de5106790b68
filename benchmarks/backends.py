"""Training throughput of CIFAR ResNet-20 ``model.fit`` on each Keras 3 backend: TensorFlow, JAX, PyTorch.

The backend is fixed when Keras is imported, so each one runs in its own
Python (``KERAS_BACKEND`` set, no timeout: a loaded machine is slow, not
wrong), one after the other; within a backend the windows are timed as in
:mod:`benchmarks.training` (median of timed ``fit`` windows, from a
callback between batch ends). Every backend trains the same net with the
same recipe (``keras_resnet.training.recipe``: SGD, momentum 0.9, weight decay
1e-4, its metrics) on the same in-memory batch, fed through one
``keras.utils.PyDataset`` so the input path is the same everywhere, and
compiles as Keras' ``jit_compile="auto"`` does on a CPU: XLA on JAX, a
``tf.function`` without XLA on TensorFlow, eager on PyTorch. Ratios are
images/s over TensorFlow's.

``python -m benchmarks.backends [--batch 128] [--windows 5] [--window-seconds 2]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")
MODEL, CLASSES, SIZE = "resnet20", 10, 32
LEARNING_RATE, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 1e-4


def _measure(backend: str, batch: int, windows: int, window_seconds: float, warmup: int) -> dict[str, Any]:
    """In a process whose Keras runs ``backend``: time ResNet-20 ``fit`` and return the measurement."""
    import keras
    import numpy as np

    import keras_resnet
    from benchmarks.timing import Candidate, interleaved
    from keras_resnet import transfer
    from keras_resnet.training import recipe  # the recipe itself is plain Keras (keras_resnet.training's fit is not)

    assert keras.backend.backend() == backend, (keras.backend.backend(), backend)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch, SIZE, SIZE, 3), dtype=np.float32)
    labels = rng.integers(0, CLASSES, batch)

    class OneBatch(keras.utils.PyDataset):
        """The same batch, ``steps`` times (Keras lists a PyDataset's indices: keep it short)."""

        def __init__(self, steps: int) -> None:
            super().__init__()
            self.steps = steps

        def __len__(self) -> int:
            return self.steps

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            return images, labels

    class BatchEndTimes(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.times.append(time.perf_counter())

    features = keras_resnet.get_model(MODEL, include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3))
    model = transfer.add_head(features, CLASSES)
    recipe.apply_weight_decay(model, WEIGHT_DECAY)
    jit_compile = backend == "jax"  # what jit_compile="auto" picks on a CPU-only machine
    recipe.compile_model(model, LEARNING_RATE, MOMENTUM, CLASSES, jit_compile)

    def window(steps: int) -> float:
        timer = BatchEndTimes()
        model.fit(OneBatch(steps + 1), epochs=1, steps_per_epoch=steps + 1, verbose=0, callbacks=[timer])
        return timer.times[-1] - timer.times[0]

    name = f"keras_resnet fit, {backend}"
    candidate = Candidate(name, batch, window=window, info={"backend": backend, "xla": jit_compile})
    result = interleaved([candidate], windows, window_seconds, warmup, lambda m: print(m, file=sys.stderr))
    return result[name].to_dict()


def _child(backend: str, batch: int, windows: int, window_seconds: float, warmup: int) -> dict[str, Any]:
    """Run :func:`_measure` in a fresh Python under ``KERAS_BACKEND=backend``."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    args = ["--child", backend, "--batch", str(batch), "--windows", str(windows),
            "--window-seconds", str(window_seconds), "--warmup", str(warmup)]
    done = subprocess.run([sys.executable, "-m", "benchmarks.backends", *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the {backend} benchmark failed (exit {done.returncode}); its log is above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(batch: int, windows: int, window_seconds: float, warmup: int = 2,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every backend in turn; rows, the fastest, and each backend's images/s over TensorFlow's."""
    rows = []
    for backend in BACKENDS:
        log(f"backends: ResNet-20 fit on {backend}, batch {batch}")
        rows.append(_child(backend, batch, windows, window_seconds, warmup))
    rate = {row["backend"]: row["median_items_per_s"] for row in rows}
    return {"batch": batch, "rows": rows, "fastest": max(rate, key=rate.get),
            "ratios_vs_tensorflow": {b: round(rate[b] / rate["tensorflow"], 3) for b in BACKENDS}}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backends", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128, help="training batch size (default 128)")
    parser.add_argument("--windows", type=int, default=5, help="timed windows per backend (default 5)")
    parser.add_argument("--window-seconds", type=float, default=2.0, help="target seconds per window (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (compilation; default 2)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for flag in ("batch", "windows", "warmup"):
        if getattr(args, flag) < 1:
            raise SystemExit(f"--{flag} must be a positive integer; received {getattr(args, flag)}")
    if args.window_seconds <= 0:
        raise SystemExit(f"--window-seconds must be positive; received {args.window_seconds}")
    if args.child:
        print(json.dumps(_measure(args.child, args.batch, args.windows, args.window_seconds, args.warmup)))
        return 0
    results = run(args.batch, args.windows, args.window_seconds, args.warmup)
    for row in results["rows"]:
        ratio = results["ratios_vs_tensorflow"][row["backend"]]
        print(f"{row['backend']:>10}: {row['median_items_per_s']:8.1f} images/s "
              f"(windows {row['min_items_per_s']:.1f}-{row['max_items_per_s']:.1f}), {ratio:.2f}x TensorFlow")
    print(f"fastest here: {results['fastest']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
