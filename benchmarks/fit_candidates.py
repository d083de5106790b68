"""Training candidates, CIFAR ResNet-20 at 32x32 (He et al. 2016, §4.2), built in a benchmark worker: keras_resnet's
``model.fit`` and the same net in PyTorch (:mod:`benchmarks.torch_resnet`).

All train on one seeded in-memory batch with SGD, momentum 0.9 and weight decay 1e-4: the figure is the step alone.
keras_resnet compiles as its users do (``keras_resnet.training.recipe``) and is timed between batch ends, leaving
per-``fit`` set-up out; its :data:`VARIANTS` are per model, process-wide settings the worker's.
"""

from __future__ import annotations

import contextlib
import functools
import io
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np

import keras_resnet
from benchmarks.workers import Candidate
from keras_resnet import transfer
from keras_resnet.formats import dtype_policy
from keras_resnet.training import recipe

MODEL, CLASSES, SIZE = "resnet20", 10, 32
LEARNING_RATE, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 1e-4
STEPS_PER_EXECUTION = 8
BACKWARD_FACTOR = 3  # a training step costs about 3 forward passes (forward, then twice that backward)
#: keras_resnet's per-model variants: name suffix -> keyword arguments of :func:`keras_model`.
VARIANTS: dict[str, dict[str, Any]] = {
    "": {}, " + XLA": {"jit_compile": True}, ", channels_first": {"data_format": "channels_first"},
    f", steps_per_execution {STEPS_PER_EXECUTION}": {"steps_per_execution": STEPS_PER_EXECUTION},
    ", mixed_bfloat16": {"precision": "mixed_bfloat16"},
}


def synthetic_batch(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded batch (random NHWC images, random labels) every candidate trains on."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((batch, SIZE, SIZE, 3), dtype=np.float32), rng.integers(0, CLASSES, batch)


def fit_window(fit: Callable[[int, keras.callbacks.Callback], Any]) -> Callable[[int], float]:
    """A window: ``fit(steps, timer)`` runs ``steps + 1`` executions calling back ``timer`` at each one's end; the
    seconds from the first end to the last (per-``fit`` set-up left out)."""
    def window(steps: int) -> float:
        times: list[float] = []
        fit(steps, keras.callbacks.LambdaCallback(on_train_batch_end=lambda *a, **k: times.append(time.perf_counter())))
        return times[-1] - times[0]

    return window


def model_fit(model: keras.Model, images: np.ndarray, labels: np.ndarray, per_execution: int = 1) -> Callable:
    """A window of ``model.fit`` on a ``tf.data`` dataset repeating one batch."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensors((images, labels)).repeat()
    return fit_window(lambda steps, timer: model.fit(data, steps_per_epoch=(steps + 1) * per_execution, verbose=0,
                                                     callbacks=[timer]))


def cli_fit(batch: int, steps: int, timer: keras.callbacks.Callback) -> None:
    """:func:`keras_resnet.training.fit` as the README runs it (Fashion-MNIST through the tf.data pipeline, every
    callback) at ``batch``: one epoch of ``steps + 1`` steps."""
    from keras_resnet import training

    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        training.fit(model_dir=out, epochs=1, global_batch_size=batch, train_examples=(steps + 1) * batch,
                     eval_examples=batch, callbacks=[timer])


def keras_model(strategy: Any = None, jit_compile: bool = False, precision: str = "none",
                data_format: str = "channels_last", steps_per_execution: int = 1) -> keras.Model:
    """ResNet-20 compiled with keras_resnet's recipe (inside ``strategy``'s scope if given), in ``precision`` with a
    float32 softmax head, built in ``data_format``."""
    shape = (SIZE, SIZE, 3) if data_format == "channels_last" else (3, SIZE, SIZE)
    with (dtype_policy(precision), keras_resnet.image_data_format(data_format),
          strategy.scope() if strategy else contextlib.nullcontext()):
        model = transfer.add_head(keras_resnet.get_model(MODEL, weights=None, include_top=False, pooling="avg",
                                                         input_shape=shape), CLASSES)
        recipe.apply_weight_decay(model, WEIGHT_DECAY)
        recipe.compile_model(model, LEARNING_RATE, MOMENTUM, CLASSES, jit_compile=jit_compile,
                             steps_per_execution=steps_per_execution)
    return model


def keras_candidates(batch: int, tag: str, info: Mapping[str, Any], variants: tuple[str, ...] = ("",),
                     user_path_batches: tuple[int, ...] = ()) -> list[Candidate]:
    """keras_resnet's ``fit`` in each of ``variants`` (keys of :data:`VARIANTS`) and, at ``user_path_batches``,
    ``keras_resnet.training.fit`` (the command line's path); names end with ``, tag``."""
    images, labels = synthetic_batch(batch)
    candidates = []
    for variant in variants:
        options = VARIANTS[variant]
        data_format, per_execution = options.get("data_format", "channels_last"), options.get("steps_per_execution", 1)
        x = images.transpose(0, 3, 1, 2).copy() if data_format == "channels_first" else images
        candidates.append(Candidate(
            f"keras_resnet fit{variant}, {tag}", batch * per_execution,
            window=model_fit(keras_model(**options), x, labels, per_execution),
            info={"framework": "keras_resnet", "precision": "bf16" if "precision" in options else "fp32",
                  "xla": bool(options.get("jit_compile")), "data_format": data_format,
                  "steps_per_execution": per_execution, **info}))
    return candidates + [Candidate(f"keras_resnet.training.fit (CLI path), batch {b}, {tag}", b,
                                   window=fit_window(functools.partial(cli_fit, b)),
                                   info={"framework": "keras_cli", "precision": "fp32", **info})
                         for b in user_path_batches]


def replica_candidates(batch: int) -> list[Candidate]:
    """The scale plan: ``fit`` on 1 and 2 data-parallel replicas at the same global batch. Replicas are logical CPUs
    (``keras_resnet.distribute.split_cpu``, done by the worker) under ``MirroredStrategy``; they share the same
    cores, so this measures what replication costs (splitting the batch, the all-reduce), not a speed-up."""
    import tensorflow as tf

    devices, data = [d.name for d in tf.config.list_logical_devices("CPU")], synthetic_batch(batch)
    return [Candidate(f"{n} replica(s)", batch, info={"replicas": n, "per_replica_batch": batch // n},
                      window=model_fit(keras_model(tf.distribute.MirroredStrategy(devices[:n])), *data))
            for n in (1, 2)]


def peer_candidates(batch: int, torch_compile: bool) -> list[Candidate]:
    """PyTorch's ResNet-20 on the seeded batch (:func:`benchmarks.torch_resnet.training_candidates`)."""
    from benchmarks import torch_resnet

    return torch_resnet.training_candidates(*synthetic_batch(batch), CLASSES, torch_compile, lr=LEARNING_RATE,
                                            momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)


def flops() -> int:
    """FLOPs of one training image: 2 per multiply-accumulate, times :data:`BACKWARD_FACTOR`."""
    return 2 * BACKWARD_FACTOR * keras_resnet.count_macs(keras_model())
