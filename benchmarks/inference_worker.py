"""keras_resnet's folded ResNet-50 predicting in its own process: inference candidates whose settings are
process-wide (oneDNN environment variables TensorFlow reads once, the size of its thread pools).

``python -m benchmarks.inference_worker --weights W --images X.npy [--inter-op N]`` builds
``keras_resnet.ResNet50`` for the images' size, loads ``W``, folds batch norm
(:func:`keras_resnet.inference.optimize_for_inference`) and prints ``ready``.
Then, per line on standard input: ``N`` runs ``N`` ``predict_on_batch`` calls on the
images and prints their seconds; ``probs PATH`` saves the probabilities to
``PATH`` (``.npy``) and prints ``ok``. :class:`WorkerPredictor` is the parent's side.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


class WorkerPredictor:
    """A running worker: ``window(steps)`` (seconds for ``steps`` predictions) and ``probabilities()``.

    Creating one starts the process and returns at once, so several workers start side by side.
    """

    def __init__(self, weights: Path, images: Path, env: dict[str, str] | None = None, inter_op: int = 0) -> None:
        self._images = images
        command = [sys.executable, "-m", "benchmarks.inference_worker", "--weights", str(weights),
                   "--images", str(images), "--inter-op", str(inter_op)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                         env={**os.environ, **(env or {})}, cwd=Path(__file__).resolve().parents[1])
        self._ready = False  # the worker starts in the background; the first question waits for it

    def _ask(self, line: str) -> str:
        if not self._ready:
            self._expect("ready")
            self._ready = True
        assert self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        return self._read()

    def _read(self) -> str:
        assert self._process.stdout is not None
        answer = self._process.stdout.readline().strip()
        if not answer:
            raise RuntimeError(f"inference worker exited with status {self._process.wait()}")
        return answer

    def _expect(self, word: str) -> None:
        answer = self._read()
        if answer != word:
            raise RuntimeError(f"inference worker said {answer!r}, expected {word!r}")

    def window(self, steps: int) -> float:
        return float(self._ask(str(steps)))

    def probabilities(self) -> np.ndarray:
        out = self._images.with_suffix(".out.npy")
        if self._ask(f"probs {out}") != "ok":
            raise RuntimeError("inference worker could not save its probabilities")
        return np.load(out)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inference_worker", description=__doc__)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--inter-op", type=int, default=0, help="TensorFlow inter-op threads (0: its default)")
    args = parser.parse_args()
    import tensorflow as tf

    if args.inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    import keras_resnet
    from keras_resnet.inference import optimize_for_inference

    images = np.load(args.images)
    model = keras_resnet.ResNet50(weights=None, input_shape=images.shape[1:])
    model.load_weights(args.weights)
    folded = optimize_for_inference(model)
    print("ready", flush=True)
    for line in sys.stdin:
        command = line.split()
        if command[0] == "probs":
            np.save(command[1], folded.predict_on_batch(images))
            print("ok", flush=True)
            continue
        start = time.perf_counter()
        for _ in range(int(command[0])):
            folded.predict_on_batch(images)
        print(time.perf_counter() - start, flush=True)


if __name__ == "__main__":
    main()
