"""keras_resnet's ResNet-20 ``fit`` in its own process: training candidates whose settings are process-wide
(the size of TensorFlow's thread pools, thread pinning, XLA:CPU flags read from ``XLA_FLAGS`` once).

``python -m benchmarks.training_worker --batch B [--inter-op N] [--pin] [--jit-compile]`` builds the
model as :func:`benchmarks.training.keras_model` does, on the same synthetic batch as the in-process
candidates, fits one warm-up window and, with ``--pin``, pins its threads
(:func:`benchmarks.worker.pin_threads`); then it serves :func:`benchmarks.training.fit_window`
(:func:`benchmarks.worker.serve`). :class:`TrainingWorker` is the parent's side.
"""

from __future__ import annotations

import argparse

from benchmarks.worker import Worker, pin_threads, serve


class TrainingWorker(Worker):
    """A running training worker: ``window(steps)``, seconds between the batch ends of ``steps`` steps."""

    def __init__(self, batch: int, env: dict[str, str] | None = None, inter_op: int = 0, pin: bool = False,
                 jit_compile: bool = False) -> None:
        super().__init__("benchmarks.training_worker",
                         ["--batch", str(batch), "--inter-op", str(inter_op), *(["--pin"] if pin else []),
                          *(["--jit-compile"] if jit_compile else [])], env)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training_worker", description=__doc__)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--inter-op", type=int, default=0, help="TensorFlow inter-op threads (0: its default)")
    parser.add_argument("--pin", action="store_true", help="pin every thread to one core once built")
    parser.add_argument("--jit-compile", action="store_true", help="compile the train step with XLA")
    args = parser.parse_args()
    import tensorflow as tf

    if args.inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    from benchmarks import training

    images, labels = training.synthetic_batch(args.batch)
    model = training.keras_model(jit_compile=args.jit_compile)
    window = training.fit_window(model, tf.data.Dataset.from_tensors((images, labels)).repeat())
    window(1)  # compiles the step and builds TensorFlow's thread pools
    if args.pin:
        pin_threads()
    serve(window)


if __name__ == "__main__":
    main()
