"""Where a candidate's time goes, measured in its worker: time per op type, and oneDNN's primitives.

:func:`profile` sums TensorFlow's profiler events on its compute threads by op type (``op name:op type`` in the
XSpace it writes), or ``torch.profiler``'s self CPU time per ``aten::`` op: TensorFlow's oneDNN kernels are the
``_Mkl...`` op types, its Eigen ones plain ``Conv2D``, ``Conv2DBackpropFilter`` ... :func:`onednn_log` reads oneDNN's
verbose log, a line per executed primitive. TensorFlow reads ``ONEDNN_VERBOSE`` once, at its first oneDNN use, so
its candidate is logged in a worker started with :data:`VERBOSE_ENV`; PyTorch turns the log on around the steps.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from benchmarks.timing import Candidate

VERBOSE_ENV = {"ONEDNN_VERBOSE": "1", "ONEDNN_VERBOSE_TIMESTAMP": "1"}
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


def profile(candidates: Mapping[str, Candidate], name: str, steps: int) -> dict[str, Any]:
    """Milliseconds per step by op type over ``steps`` steps of candidate ``name`` (a worker's ``call`` target)."""
    candidate, seconds = candidates[name], []
    candidate.run(1)
    ops = (_torch_ops if candidate.info["framework"] == "torch" else _tensorflow_ops)(
        lambda: seconds.append(candidate.run(steps)))
    ran = steps + 1 if candidate.window else steps  # a window (model.fit) runs one step more than it times
    per_step = sorted(((op, ms / ran) for op, ms in ops.items()), key=lambda item: -item[1])
    total = sum(ms for _, ms in per_step) or 1.0
    return {"candidate": name, "steps": steps, "step_ms": round(1e3 * seconds[0] / steps, 2), "op_ms": round(total, 2),
            "conv_ms": round(sum(ms for op, ms in per_step if "conv" in op.lower()), 2),
            "top": [{"op": op, "ms": round(ms, 2), "share": round(ms / total, 3)} for op, ms in per_step[:TOP]]}


def parse_line(line: str) -> dict[str, Any] | None:
    """An executed primitive from a verbose line (oneDNN 2.x ``dnnl_verbose,exec,cpu,...`` or 3.x
    ``onednn_verbose,v1,primitive,exec,...``, with or without a start time before ``exec``), or None."""
    fields = line.strip().split(",")
    if not fields[0].endswith("_verbose") or "exec" not in fields:
        return None
    i = fields.index("exec")
    numbers = [float(f) if re.fullmatch(r"[0-9.]+(e[-+]?[0-9]+)?", f) else None for f in (*fields[1:i], fields[-1])]
    if "graph" in fields[:i] or len(fields) < i + 10 or numbers[-1] is None:
        return None
    return {"primitive": fields[i + 2], "implementation": fields[i + 3], "propagation": fields[i + 4],
            "ms": numbers[-1], "start": next((n for n in numbers[:-1] if n is not None), None)}


def busy_ms(records: list[dict[str, Any]]) -> float | None:
    """Wall time during which at least one primitive ran (the union of their intervals), if lines have starts."""
    if not records or any(r["start"] is None for r in records):
        return None
    total, end = 0.0, float("-inf")
    for start, ms in sorted((r["start"], r["ms"]) for r in records):
        total += max(0.0, ms - max(0.0, end - start))
        end = max(end, start + ms)
    return total


def summarise(lines: Iterable[str], steps: int, step_ms: float) -> dict[str, Any]:
    """Per step: the logged primitives' calls and milliseconds, their union, and the largest by implementation."""
    lines = list(lines)
    records = [r for r in map(parse_line, lines) if r is not None]
    kernels: dict[tuple[str, str, str], list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for r in records:
        kernels[r["primitive"], r["implementation"], r["propagation"]][0] += 1
        kernels[r["primitive"], r["implementation"], r["propagation"]][1] += r["ms"]
    busy, largest = busy_ms(records), sorted(kernels.items(), key=lambda kv: -kv[1][1])
    return {"version": next((m[1] for m in map(re.compile(r"oneDNN (v[\d.]+)").search, lines) if m), "?"),
            "steps": steps, "step_ms": round(step_ms, 2), "calls": round(len(records) / steps, 1),
            "onednn_ms": round(sum(r["ms"] for r in records) / steps, 2),
            "busy_ms": None if busy is None else round(busy / steps, 2),
            "kernels": [{"primitive": k[0], "implementation": k[1], "propagation": k[2], "calls": round(n / steps, 1),
                         "ms": round(ms / steps, 2)} for k, (n, ms) in largest]}


def onednn_log(candidates: Mapping[str, Candidate], name: str, steps: int) -> dict[str, Any]:
    """oneDNN's primitives over ``steps`` steps of candidate ``name`` (a worker's ``call`` target; a TensorFlow
    worker must have been started with :data:`VERBOSE_ENV`)."""
    candidate, verbose = candidates[name], contextlib.nullcontext()
    if candidate.info["framework"] == "torch":
        import torch

        verbose = torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON)
    with tempfile.TemporaryFile("w+") as log:
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)
        try:
            with verbose:
                candidate.run(1)  # warm-up: oneDNN's version lines and the primitives' creation
                warm, seconds = os.lseek(1, 0, os.SEEK_CUR), candidate.run(steps)
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        text = log.read()
    info = [line for line in text[:warm].splitlines() if ",info," in line]
    result = summarise(info + text[warm:].splitlines(), steps + 1 if candidate.window else steps,
                       1e3 * seconds / steps)
    if not result["calls"]:
        raise RuntimeError(f"{name} logged no oneDNN primitive: is its worker started with ONEDNN_VERBOSE=1?")
    return {"candidate": name, **result}
