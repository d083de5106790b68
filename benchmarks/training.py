"""Training throughput, CIFAR ResNet-20 at 32x32: keras_resnet's ``model.fit`` vs the same net in PyTorch.

Both sides train on the same in-memory batch (random images, random labels)
with SGD, momentum 0.9 and weight decay 1e-4, so the figure is the model's
training step alone; the input pipeline is measured on its own in
:mod:`benchmarks.scaling`. keras_resnet trains as its users do:
``keras_resnet.training.compile_model`` (loss; top-1, top-k and cross-entropy metrics) and
``model.fit``, timed from a callback between batch ends, so per-``fit``-call
set-up is left out. Candidates: Keras with and without XLA; PyTorch in its
default NCHW layout, in ``channels_last`` and, if enabled, ``torch.compile``d;
and each side in bfloat16 (Keras' ``mixed_bfloat16`` policy, PyTorch's CPU
autocast), which this CPU runs natively (AVX512_BF16). Candidate settings for
keras_resnet (issue: win the ratio or show where the limit is): the net built
``channels_first`` (NCHW, with the fused batch norm in NCHW) and Keras'
``steps_per_execution`` (Keras already builds its train function with
``tf.function(reduce_retracing=True)``); and, each in a worker process
(:mod:`benchmarks.training_worker`) because they are process-wide, one inter-op
or one intra-op thread, every thread pinned to one core, and XLA with XLA:CPU's oneDNN or
XNNPACK convolutions (``XLA_FLAGS``). The path users run, ``keras_resnet.training.fit`` (what
``python -m keras_resnet.training`` calls: Fashion-MNIST through the tf.data
pipeline with augmentation, the preprocessing layer, every callback of the run),
is timed the same way at the README's batch 128 and at 64. The headline
compares each side's fastest float32 candidate; a second ratio compares
bfloat16 with bfloat16.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import torch
import torch.nn.functional as F

import keras_resnet
from benchmarks import torch_resnet
from benchmarks.settings import Settings
from benchmarks.timing import Candidate, interleaved, summarise
from benchmarks.training_worker import TrainingWorker
from keras_resnet import training, transfer

MODEL = "resnet20"
CLASSES = 10
SIZE = 32
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
STEPS_PER_EXECUTION = 8
BACKWARD_FACTOR = 3  # a training step costs about 3 forward passes (forward + 2x for the backward)


class _BatchEndTimes(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.times.append(time.perf_counter())


def keras_model(strategy: tf.distribute.Strategy | None = None, jit_compile: bool = False,
                precision: str = "none", data_format: str = "channels_last",
                steps_per_execution: int = 1) -> keras.Model:
    """ResNet-20 compiled with keras_resnet's training recipe (optionally inside ``strategy``'s scope), in
    ``precision`` (``training.MIXED_PRECISION``) with a float32 softmax head, as ``keras_resnet.training`` builds it;
    built in ``data_format`` (input ``(3, 32, 32)`` for ``channels_first``)."""
    shape = (SIZE, SIZE, 3) if data_format == "channels_last" else (3, SIZE, SIZE)
    with (keras_resnet.image_data_format(data_format), (strategy or tf.distribute.get_strategy()).scope(),
          training.dtype_policy(precision)):
        features = keras_resnet.get_model(MODEL, include_top=False, pooling="avg", input_shape=shape)
        model = transfer.add_head(features, CLASSES)
        training.apply_weight_decay(model, WEIGHT_DECAY)
        training.compile_model(model, LEARNING_RATE, MOMENTUM, CLASSES, jit_compile, steps_per_execution)
    return model


def fit_window(model: keras.Model, dataset: tf.data.Dataset, steps_per_execution: int = 1
               ) -> Callable[[int], float]:
    """A window function: ``model.fit`` for ``steps + 1`` executions of ``steps_per_execution`` steps each,
    seconds from the first execution's end to the last (Keras calls batch callbacks once per execution)."""
    def window(steps: int) -> float:
        timer = _BatchEndTimes()
        model.fit(dataset, epochs=1, steps_per_epoch=(steps + 1) * steps_per_execution, verbose=0,
                  callbacks=[timer])
        return timer.times[-1] - timer.times[0]

    return window


def _keras_candidate(name: str, jit_compile: bool, images: np.ndarray, labels: np.ndarray,
                     bf16: bool = False, data_format: str = "channels_last",
                     steps_per_execution: int = 1) -> Candidate:
    model = keras_model(jit_compile=jit_compile, precision="mixed_bfloat16" if bf16 else "none",
                        data_format=data_format, steps_per_execution=steps_per_execution)
    if data_format == "channels_first":
        images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    return Candidate(name, len(images) * steps_per_execution,
                     window=fit_window(model, dataset, steps_per_execution),
                     info={"framework": "keras", "xla": jit_compile, "precision": "bf16" if bf16 else "fp32",
                           "data_format": data_format, "steps_per_execution": steps_per_execution})


def user_path_window(batch: int) -> Callable[[int], float]:
    """A window function over :func:`keras_resnet.training.fit` at the README's settings (Fashion-MNIST,
    ResNet-20, the paper's recipe, every callback) and ``batch``: a one-epoch run of ``steps + 1`` steps,
    seconds from the first batch end to the last (the model build, validation and saving are left out,
    as they are for the synthetic candidates)."""
    def window(steps: int) -> float:
        timer = _BatchEndTimes()
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
            training.fit(model_dir=out, epochs=1, global_batch_size=batch, train_examples=(steps + 1) * batch,
                         eval_examples=batch, callbacks=[timer])
        return timer.times[-1] - timer.times[0]

    return window


def torch_step(images: np.ndarray, labels: np.ndarray, channels_last: bool, compiled: bool = False,
               bf16: bool = False) -> Callable[[], None]:
    """One SGD step of the PyTorch ResNet-20 on ``images`` (NHWC, converted), as configured."""
    net = torch_resnet.resnet20(CLASSES).train()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    forward = torch.compile(net) if compiled else net

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(forward(x), y)
        loss.backward()
        optimizer.step()

    return step


def _torch_candidate(name: str, images: np.ndarray, labels: np.ndarray, channels_last: bool,
                     compiled: bool, bf16: bool = False) -> Candidate:
    return Candidate(name, len(images), step=torch_step(images, labels, channels_last, compiled, bf16),
                     info={"framework": "torch", "channels_last": channels_last, "torch_compile": compiled,
                           "precision": "bf16" if bf16 else "fp32"})


def synthetic_batch(batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded batch (random images, random labels) every candidate trains on."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((batch, SIZE, SIZE, 3), dtype=np.float32), rng.integers(0, CLASSES, batch)


# Process-wide settings, each in a worker process (benchmarks.training_worker); "xla" rows only with settings.xla.
WORKERS = {"keras_resnet fit, 1 inter-op thread": {"inter_op": 1},
           "keras_resnet fit, 1 intra-op thread": {"intra_op": 1},
           "keras_resnet fit, threads pinned to cores": {"pin": True}}
XLA_WORKERS = {f"keras_resnet fit + XLA, XLA_FLAGS={flag}": {"jit_compile": True, "env": {"XLA_FLAGS": flag}}
               for flag in ("--xla_cpu_use_onednn=true", "--xla_cpu_use_xnnpack=true")}


def _worker_candidates(settings: Settings, workers: dict[str, TrainingWorker]) -> list[Candidate]:
    """Start a worker per process-wide candidate (into ``workers``, closed by the caller); their candidates."""
    candidates = []
    for name, kwargs in {**WORKERS, **(XLA_WORKERS if settings.xla else {})}.items():
        workers[name] = TrainingWorker(settings.train_batch, **kwargs)
        candidates.append(Candidate(name, settings.train_batch, window=workers[name].window,
                                    info={"framework": "keras", "xla": bool(kwargs.get("jit_compile")),
                                          "precision": "fp32", "process": {k: v for k, v in kwargs.items()
                                                                           if k != "jit_compile"}}))
    return candidates


def run(settings: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Time every candidate, interleaved; return the measurements and the headline ratio."""
    workers: dict[str, TrainingWorker] = {}
    try:
        return _run(settings, workers, log)
    finally:
        for worker in workers.values():
            worker.close()


def _run(settings: Settings, workers: dict[str, TrainingWorker], log: Callable[[str], None]) -> dict[str, Any]:
    images, labels = synthetic_batch(settings.train_batch)
    candidates = [
        *_worker_candidates(settings, workers),
        _keras_candidate("keras_resnet fit", False, images, labels),
        *([_keras_candidate("keras_resnet fit + XLA", True, images, labels)] if settings.xla else []),
        _torch_candidate("torch NCHW", images, labels, channels_last=False, compiled=False),
        _torch_candidate("torch channels_last", images, labels, channels_last=True, compiled=False),
        _keras_candidate("keras_resnet fit, channels_first", False, images, labels, data_format="channels_first"),
        _keras_candidate(f"keras_resnet fit, steps_per_execution {STEPS_PER_EXECUTION}", False, images, labels,
                         steps_per_execution=STEPS_PER_EXECUTION),
        *(Candidate(f"keras_resnet.training.fit (CLI path), batch {batch}", batch, window=user_path_window(batch),
                    info={"framework": "keras_cli", "precision": "fp32"})
          for batch in settings.user_path_batches),
        _keras_candidate("keras_resnet fit, mixed_bfloat16", False, images, labels, bf16=True),
        _torch_candidate("torch channels_last, autocast bf16", images, labels, True, False, bf16=True),
    ]
    if settings.torch_compile:
        candidates.append(_torch_candidate("torch channels_last + compile", images, labels, True, True))
        candidates.append(_torch_candidate("torch channels_last + compile, autocast bf16", images, labels,
                                           True, True, bf16=True))
    log(f"training: CIFAR ResNet-20, batch {settings.train_batch}")
    results = interleaved(candidates, settings.windows, settings.window_seconds, settings.warmup, log)
    flops = 2 * BACKWARD_FACTOR * keras_resnet.count_macs(
        keras_resnet.get_model(MODEL, input_shape=(SIZE, SIZE, 3), classes=CLASSES))
    summary = summarise(results, flops, "keras", ("torch",))
    summary["user_path"] = {row.name: round(row.median / results["keras_resnet fit"].median, 3)
                            for row in results.values() if row.info["framework"] == "keras_cli"}
    bf16 = summarise(results, flops, "keras", ("torch",), precision="bf16")
    return {**summary, "best_bf16": bf16["best"], "ratios_bf16": bf16["ratios"]}
