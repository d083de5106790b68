"""keras_resnet's folded ResNet-50 predicting in its own process: inference candidates whose settings are
process-wide (oneDNN environment variables TensorFlow reads once, the size of its thread pools, thread pinning).

Given ``--weights W --images X.npy [--inter-op N] [--intra-op N] [--pin]``, the worker
builds ``keras_resnet.ResNet50`` for the images' size, loads ``W``, folds batch norm
(:func:`keras_resnet.inference.optimize_for_inference`), predicts once and, with ``--pin``,
pins its threads (:func:`benchmarks.worker.pin_threads`); then it serves
(:func:`benchmarks.worker.serve`): ``N`` runs ``N`` ``predict_on_batch`` calls on the images
and answers their seconds; ``probs PATH`` saves the probabilities to ``PATH`` (``.npy``)
and answers ``ok``. :class:`WorkerPredictor` is the parent's side.
"""

from __future__ import annotations

import argparse
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np

from benchmarks.worker import Worker, add_thread_flags, pin_threads, serve, set_thread_pools, thread_args


class WorkerPredictor(Worker):
    """A running inference worker: ``window(steps)`` and ``probabilities()``."""

    def __init__(self, weights: Path, images: Path, env: dict[str, str] | None = None, inter_op: int = 0,
                 intra_op: int = 0, pin: bool = False) -> None:
        self._images = images
        super().__init__("benchmarks.inference_worker", ["--weights", str(weights), "--images", str(images),
                                                         *thread_args(inter_op, intra_op, pin)],
                         env)

    def probabilities(self) -> np.ndarray:
        out = self._images.with_suffix(".out.npy")
        if self.ask(f"probs {out}") != "ok":
            raise RuntimeError("inference worker could not save its probabilities")
        return np.load(out)


def main(argv: list[str], channel: Connection) -> None:
    """Build from the arguments ``argv``, then serve over ``channel`` (forked by :class:`benchmarks.worker.Worker`)."""
    parser = argparse.ArgumentParser(prog="benchmarks.inference_worker", description=__doc__)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--images", type=Path, required=True)
    add_thread_flags(parser)
    args = parser.parse_args(argv)
    set_thread_pools(args)
    import keras_resnet
    from keras_resnet.inference import optimize_for_inference

    images = np.load(args.images)
    model = keras_resnet.ResNet50(weights=None, input_shape=images.shape[1:], kernel_initializer="zeros")
    model.load_weights(args.weights)  # every weight: no need to sample initial ones
    folded = optimize_for_inference(model)
    folded.predict_on_batch(images)  # builds the function and TensorFlow's thread pools
    if args.pin:
        pin_threads()

    def window(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            folded.predict_on_batch(images)
        return time.perf_counter() - start

    def probs(words: list[str]) -> str:
        np.save(words[0], folded.predict_on_batch(images))
        return "ok"

    serve(window, channel, {"probs": probs})

