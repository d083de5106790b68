"""Where a candidate's time goes, measured in its worker: milliseconds per step by op type.

:func:`profile` sums TensorFlow's profiler events on its compute threads by op type (``op name:op type`` in the
XSpace it writes), or ``torch.profiler``'s self CPU time per ``aten::`` op. The op type names the kernels: TensorFlow's
oneDNN ones are ``_Mkl...`` (``_MklNativeConv2D`` ...), its Eigen ones plain ``Conv2D``, ``Conv2DBackpropFilter`` ...
"""

from __future__ import annotations

import collections
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.workers import CANDIDATES

TOP = 8


def _tensorflow_ops(run: Callable[[], Any]) -> dict[str, float]:  # the executor's own "Class::method" events left out
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        run()
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace.FromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    times: collections.Counter[str] = collections.Counter()
    for plane in (p for p in space.planes if p.name == "/host:CPU"):
        for event in (e for line in plane.lines if line.name.startswith("tf_Compute") for e in line.events):
            name = plane.event_metadata[event.metadata_id].name
            if ":" in name and "::" not in name:
                times[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9
    return times


def _torch_ops(run: Callable[[], Any]) -> dict[str, float]:
    import torch

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as traced:
        run()
    return {e.key: e.self_cpu_time_total / 1e3 for e in traced.key_averages() if e.key.startswith("aten::")}


def profile(name: str, steps: int) -> dict[str, Any]:
    """Milliseconds per step by op type over ``steps`` steps of the worker's candidate ``name``."""
    candidate, seconds = CANDIDATES[name], []
    candidate.run(1)
    ops = (_torch_ops if candidate.info["framework"] == "torch" else _tensorflow_ops)(
        lambda: seconds.append(candidate.run(steps)))
    ran = steps + 1 if candidate.window else steps  # a window (model.fit) runs one step more than it times
    per_step = sorted(((op, ms / ran) for op, ms in ops.items()), key=lambda item: -item[1])
    total = sum(ms for _, ms in per_step) or 1.0
    return {"candidate": name, "steps": steps, "step_ms": round(1e3 * seconds[0] / steps, 2), "op_ms": round(total, 2),
            "conv_ms": round(sum(ms for op, ms in per_step if "conv" in op.lower()), 2),
            "top": [{"op": op, "ms": round(ms, 2), "share": round(ms / total, 3)} for op, ms in per_step[:TOP]]}
