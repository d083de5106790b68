"""Where the time goes: per-op-type profiles of the training step (TensorFlow and PyTorch) and of inference.

TensorFlow is traced with ``tf.profiler.experimental`` and the XSpace file it
writes is read directly (``tensorflow.tsl.profiler.protobuf.xplane_pb2``): every
op event on TensorFlow's compute threads is summed by op type (the part of the
event name ``op name:op type``; the executor's own ``Class::method`` events
are left out). PyTorch is traced with ``torch.profiler``
(self CPU time per ``aten::`` op). The figures are per step, so the two
frameworks' convolution time can be compared directly with each other and
with their whole step.
"""

from __future__ import annotations

import collections
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import torch
from tensorflow.tsl.profiler.protobuf import xplane_pb2

import keras_resnet
from benchmarks import training
from benchmarks.settings import Settings
from keras_resnet.inference import optimize_for_inference

TOP = 8


def _is_conv(op: str) -> bool:
    return "conv" in op.lower()


def _summary(ms_by_op: dict[str, float], steps: int, step_ms: float) -> dict[str, Any]:
    per_step = {op: ms / steps for op, ms in ms_by_op.items()}
    total = sum(per_step.values())
    top = sorted(per_step.items(), key=lambda item: -item[1])[:TOP]
    return {
        "step_ms": round(step_ms, 1),
        "op_ms_per_step": round(total, 1),
        "conv_ms_per_step": round(sum(ms for op, ms in per_step.items() if _is_conv(op)), 1),
        "top": [{"op": op, "ms": round(ms, 2), "share": round(ms / total, 3)} for op, ms in top],
    }


def tf_op_times(run: Callable[[], None]) -> tuple[dict[str, float], float]:
    """Milliseconds per TensorFlow op type spent on the compute threads while ``run()`` runs, and its wall time."""
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        clock = tf.timestamp()
        run()
        wall = float(tf.timestamp() - clock) * 1e3
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    times: collections.Counter[str] = collections.Counter()
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and "::" not in name:  # "op name:op type", not the executor's "ExecutorState::Process"
                    times[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9
    return dict(times), wall


def torch_op_times(step: Callable[[], None], steps: int) -> tuple[dict[str, float], float]:
    """Self CPU milliseconds per ``aten::`` op over ``steps`` calls of ``step``, and their wall time."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        with torch.profiler.record_function("steps"):  # its total is the wall time of the steps
            for _ in range(steps):
                step()
    events = profile.key_averages()
    wall = next(e.cpu_time_total for e in events if e.key == "steps") / 1e3
    times = {e.key: e.self_cpu_time_total / 1e3 for e in events if e.key.startswith("aten::")}
    return times, wall


def run(settings: Settings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Profile ``steps`` training steps of each framework's default float32 candidate and keras_resnet's
    ResNet-50 inference at the largest batch."""
    steps = settings.profile_steps
    rng = np.random.default_rng(0)
    images = rng.standard_normal((settings.train_batch, training.SIZE, training.SIZE, 3), dtype=np.float32)
    labels = rng.integers(0, training.CLASSES, settings.train_batch)
    log(f"profile: {steps} training steps per framework, ResNet-50 inference")

    model = training.keras_model()
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    model.fit(dataset, epochs=1, steps_per_epoch=settings.warmup + 1, verbose=0)
    times, wall = tf_op_times(lambda: model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0))
    results = {"steps": steps, "keras_training": _summary(times, steps, wall / steps)}

    torch_step = training.torch_step(images, labels, channels_last=True)
    for _ in range(settings.warmup + 1):
        torch_step()
    times, wall = torch_op_times(torch_step, steps)
    results["torch_training"] = _summary(times, steps, wall / steps)

    batch = max(settings.inference_batches)
    net = optimize_for_inference(keras_resnet.ResNet50(
        weights=None, input_shape=(settings.inference_size, settings.inference_size, 3)))
    x = rng.uniform(-120, 150, (batch, settings.inference_size, settings.inference_size, 3)).astype(np.float32)
    net.predict_on_batch(x)
    times, wall = tf_op_times(lambda: [net.predict_on_batch(x) for _ in range(2)])
    results["keras_inference"] = {"batch": batch, **_summary(times, 2, wall / 2)}
    return results
