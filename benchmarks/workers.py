"""Benchmark candidates, the worker processes they run in, their interleaved timing and their profiles.

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` at import, ``XLA_FLAGS``, ``ONEDNN_*`` and its thread pools at first use:
comparing such settings takes a process each. A :class:`Worker` is a one-process ``ProcessPoolExecutor`` (``spawn``)
whose initializer sets them before anything imports TensorFlow; ``worker.call("module:function", **kwargs)`` runs that
function there. Candidates stay in their worker (:func:`build`); the parent times :func:`load`'s stand-ins with
:func:`interleaved`: one window of each per round, the order rotating, so that a slow spell (other processes, thermal
or turbo state) hits all alike; the figure is the median window, with the min and max. :func:`profile` sums
TensorFlow's profiler events on its compute threads by op type (oneDNN's kernels are ``_Mkl...``, Eigen's plain
``Conv2D`` ...), or ``torch.profiler``'s self CPU time per ``aten::`` op. A ``spawn`` child imports its parent's main
script: a script that starts workers keeps its work under ``__name__ == "__main__"``.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import machine
from benchmarks.settings import LOGICAL_CPUS, ON, PIN, PROCESS_WIDE, ROLES, Settings


@dataclasses.dataclass
class Candidate:
    """One contender: ``step()`` processes ``items`` images, or ``window(steps)`` returns the seconds it measured
    itself for ``steps`` steps (e.g. ``model.fit`` timed between batch ends, leaving per-call set-up out)."""

    name: str
    items: int
    step: Callable[[], Any] | None = None
    window: Callable[[int], float] | None = None
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def run(self, steps: int) -> float:
        if self.window is not None:
            return self.window(steps)
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        return time.perf_counter() - start


#: Under a worker's own settings: quiet TensorFlow, Keras on TensorFlow, Inductor compiling in the worker (not in
#: processes of its own, which the CPU accounting would miss).
BASE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", "TORCHINDUCTOR_COMPILE_THREADS": "1"}
TOP = 8  # op types a profile lists
#: In a worker: its candidates by name.
CANDIDATES: dict[str, Candidate] = {}


def _start(env: dict[str, str]) -> None:
    """The worker's environment (and logical CPUs), before anything imports TensorFlow."""
    if "tensorflow" in sys.modules:  # the guarantee this module exists for
        raise RuntimeError("TensorFlow was imported before the worker's environment was set")
    os.environ.update(env)
    if LOGICAL_CPUS in env:
        from keras_resnet import distribute

        distribute.split_cpu(int(env[LOGICAL_CPUS]))


def _run(function: str, kwargs: dict[str, Any]) -> Any:
    module, _, name = function.partition(":")
    return getattr(importlib.import_module(module), name)(**kwargs)


def build(factory: str, **kwargs: Any) -> list[tuple[str, int, dict[str, Any]]]:
    """In a worker: keep the candidates ``factory(**kwargs)`` returns, each run once (its compilation and thread pools
    here, every worker at once, not in the parent's warm-up one after the other; then pinned if asked); their names,
    items per step and info."""
    built = _run(factory, kwargs)
    for candidate in built:
        candidate.run(1)
    if PIN in os.environ:
        pin_threads()
    CANDIDATES.update((c.name, c) for c in built)
    return [(c.name, c.items, c.info) for c in built]


def window(name: str, steps: int) -> float:
    return CANDIDATES[name].run(steps)


def drop() -> float:
    """In a worker: forget every candidate, and the models Keras' global state holds; the worker's CPU seconds so far
    (with its children's, e.g. the ONNX conversion's)."""
    CANDIDATES.clear()
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()
    return machine.cpu_seconds()


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


class Worker:
    """A running worker (starting one returns at once, so several start side by side; calls wait for it)."""

    def __init__(self, label: str, env: dict[str, str]) -> None:
        self.label = label
        self._executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                                             initargs=({**BASE_ENV, **env},))
        self._executor.submit(int)  # starts the process now

    def submit(self, function: str, **kwargs: Any) -> Future:
        """Start ``function(**kwargs)`` in the worker (``"module:function"``); :meth:`result` waits for it."""
        return self._executor.submit(_run, function, kwargs)

    def result(self, future: Future) -> Any:
        """The future's value; an error naming the worker (with its traceback) if the call failed or it died."""
        try:
            return future.result()
        except Exception as error:
            raise RuntimeError(f"benchmark worker {self.label!r} failed: {error}") from error

    def call(self, function: str, **kwargs: Any) -> Any:
        return self.result(self.submit(function, **kwargs))

    def close(self) -> None:
        self._executor.shutdown()


class Pool:
    """The run's workers by role (``shared_workers``: all but "off" in "on") or process-wide setting, till closed."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.workers, self.cpu_seconds = settings, {}, {}

    def get(self, label: str, env: dict[str, str]) -> Worker:
        if label not in self.workers:
            self.workers[label] = Worker(label, env)
        return self.workers[label]

    def role(self, name: str) -> Worker:
        if self.settings.shared_workers and name != "off":
            return self.get(ROLES["on"][0], ROLES["replicas"][1])
        return self.get(*ROLES[name])

    def process_wide(self, section: str) -> list[tuple[Worker, str, str]]:
        """The process-wide workers ``section`` times (if ``settings.process_wide``): worker, label, variant."""
        return [(self.get(f"oneDNN on, {label}", {**ON, **env}), label, used[section])
                for label, (env, used) in PROCESS_WIDE.items() if self.settings.process_wide and section in used]

    def drop(self) -> None:
        """Every worker forgets its candidates (all at once) and reports its CPU seconds so far."""
        for worker, future in [(w, w.submit(f"{__name__}:drop")) for w in self.workers.values()]:
            self.cpu_seconds[worker.label] = worker.result(future)

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()


def load(requests: list[tuple[Worker, str, dict[str, Any]]]) -> list[Candidate]:
    """Each factory's candidates, built in its worker (all workers build at once), timed from here."""
    futures = [(worker, worker.submit(f"{__name__}:build", factory=factory, **kwargs))
               for worker, factory, kwargs in requests]
    return [Candidate(name, items, info={**info, "worker": worker.label},
                      window=lambda steps, w=worker, n=name: w.call(f"{__name__}:window", name=n, steps=steps))
            for worker, future in futures for name, items, info in worker.result(future)]


def pin_threads() -> None:
    """Pin every thread of this process to one core each, round-robin over its cores (Linux). TensorFlow's pools do
    not pin their threads (its oneDNN runs on TensorFlow's pool, not OpenMP, so ``OMP_PROC_BIND`` does not apply)."""
    cores = sorted(os.sched_getaffinity(0))
    for index, tid in enumerate(sorted(int(t) for t in os.listdir("/proc/self/task"))):
        try:
            os.sched_setaffinity(tid, {cores[index % len(cores)]})
        except ProcessLookupError:  # a thread that ended meanwhile
            continue


def interleaved(candidates: Sequence[Candidate], windows: int, window_seconds: float, warmup: int,
                log: Callable[[str], None], flops_per_item: float | None = None) -> list[dict[str, Any]]:
    """``windows`` rounds of one window per candidate (each sized to about ``window_seconds`` after ``warmup``
    untimed steps), order rotating; a row per candidate: its windows' items/s, their median, min and max (and the
    GFLOP/s of the median, given ``flops_per_item``)."""
    steps = {}
    for c in candidates:
        log(f"  warm-up: {c.name}")
        c.run(warmup)
        steps[c.name] = max(1, round(window_seconds / max(c.run(1), 1e-6)))
    rates: dict[str, list[float]] = {c.name: [] for c in candidates}
    for index in range(windows):
        for c in [*candidates[index % len(candidates):], *candidates[:index % len(candidates)]]:
            rates[c.name].append(steps[c.name] * c.items / c.run(steps[c.name]))
        log(f"  window {index + 1}/{windows}: " + ", ".join(f"{c.name} {rates[c.name][-1]:.1f}/s" for c in candidates))
    rows = []
    for c, rate in ((c, rates[c.name]) for c in candidates):
        median = statistics.median(rate)
        rows.append({"name": c.name, "items_per_step": c.items, "steps_per_window": steps[c.name],
                     "windows_items_per_s": [round(v, 3) for v in rate], "median_items_per_s": round(median, 3),
                     "min_items_per_s": round(min(rate), 3), "max_items_per_s": round(max(rate), 3),
                     "median_ms_per_step": round(1e3 * c.items / median, 3), **c.info}
                    | ({"gflops": round(median * flops_per_item / 1e9, 1)} if flops_per_item else {}))
    return rows


def ratio(rows: list[dict[str, Any]], ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """The fastest row matching ``ours`` over the fastest matching ``peer`` (rows whose entries equal theirs), with
    both rows' names."""
    a, b = ([r for r in rows if all(r.get(k) == v for k, v in match.items())] for match in (ours, peer))
    if not a or not b:
        raise ValueError(f"no measured row has {ours if not a else peer}")
    a, b = (max(chosen, key=lambda row: row["median_items_per_s"]) for chosen in (a, b))
    return {"ratio": round(a["median_items_per_s"] / b["median_items_per_s"], 3), "ours": a["name"], "peer": b["name"]}
