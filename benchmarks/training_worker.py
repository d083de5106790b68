"""keras_resnet's ResNet-20 ``fit`` in its own process: training candidates whose settings are process-wide
(the size of TensorFlow's thread pools, thread pinning, XLA:CPU flags read from ``XLA_FLAGS`` once).

Given ``--batch B [--inter-op N] [--intra-op N] [--pin] [--jit-compile]``, the worker
builds the model as :func:`benchmarks.training.keras_model` does, on the same synthetic batch as the in-process
candidates, fits one warm-up window and, with ``--pin``, pins its threads
(:func:`benchmarks.worker.pin_threads`); then it serves :func:`benchmarks.training.fit_window`
(:func:`benchmarks.worker.serve`). :class:`TrainingWorker` is the parent's side.
"""

from __future__ import annotations

import argparse
from multiprocessing.connection import Connection

from benchmarks.worker import Worker, add_thread_flags, pin_threads, serve, set_thread_pools, thread_args


class TrainingWorker(Worker):
    """A running training worker: ``window(steps)``, seconds between the batch ends of ``steps`` steps."""

    def __init__(self, batch: int, env: dict[str, str] | None = None, inter_op: int = 0, intra_op: int = 0,
                 pin: bool = False, jit_compile: bool = False) -> None:
        super().__init__("benchmarks.training_worker",
                         ["--batch", str(batch), *thread_args(inter_op, intra_op, pin),
                          *(["--jit-compile"] if jit_compile else [])], env)


def main(argv: list[str], channel: Connection) -> None:
    """Build from the arguments ``argv``, then serve over ``channel`` (forked by :class:`benchmarks.worker.Worker`)."""
    parser = argparse.ArgumentParser(prog="benchmarks.training_worker", description=__doc__)
    parser.add_argument("--batch", type=int, required=True)
    add_thread_flags(parser)
    parser.add_argument("--jit-compile", action="store_true", help="compile the train step with XLA")
    args = parser.parse_args(argv)
    set_thread_pools(args)
    import tensorflow as tf

    from benchmarks import training

    images, labels = training.synthetic_batch(args.batch)
    model = training.keras_model(jit_compile=args.jit_compile)
    window = training.fit_window(model, tf.data.Dataset.from_tensors((images, labels)).repeat())
    window(1)  # compiles the step and builds TensorFlow's thread pools
    if args.pin:
        pin_threads()
    serve(window, channel)

