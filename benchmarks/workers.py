"""Benchmark workers: processes each started with its own environment before TensorFlow is imported.

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` at import, ``XLA_FLAGS``, ``ONEDNN_*`` and its thread pools at first use:
comparing such settings takes a process each. A :class:`Worker` is a one-process ``ProcessPoolExecutor`` started by
``spawn`` whose initializer sets them; ``worker.call("module:function", **kwargs)`` runs that function there.
Candidates stay in their worker (:func:`build`); the parent times :func:`load`'s stand-ins. A ``spawn`` child imports
its parent's main script: a script that starts workers keeps its work under ``__name__ == "__main__"``.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from benchmarks.settings import PROCESS_WIDE, ROLES, Settings
from benchmarks.timing import Candidate
from keras_resnet.cpu import ONEDNN_ENV

#: Under a worker's own settings: quiet TensorFlow, Keras on TensorFlow, Inductor compiling in the worker (not in
#: processes of its own, which the CPU accounting would miss).
BASE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", "TORCHINDUCTOR_COMPILE_THREADS": "1"}
#: In a worker: its candidates by name (threads pinned once they are built if ``_pin``).
CANDIDATES: dict[str, Candidate] = {}
_pin = False


def _start(env: dict[str, str], inter_op: int, intra_op: int, pin: bool, logical_cpus: int) -> None:
    """The worker's environment and thread pools, before anything imports TensorFlow."""
    if "tensorflow" in sys.modules:  # the guarantee this module exists for
        raise RuntimeError("TensorFlow was imported before the worker's environment was set")
    global _pin
    os.environ.update(env)
    _pin = pin
    if inter_op or intra_op or logical_cpus:
        import tensorflow as tf

        from keras_resnet import distribute

        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if logical_cpus:
            distribute.split_cpu(logical_cpus)


def _run(function: str, kwargs: dict[str, Any]) -> Any:
    module, _, name = function.partition(":")
    return getattr(importlib.import_module(module), name)(**kwargs)


def build(factory: str, **kwargs: Any) -> list[tuple[str, int, dict[str, Any]]]:
    """In a worker: keep the candidates ``factory(**kwargs)`` returns; their names, items per step and info."""
    built = _run(factory, kwargs)
    CANDIDATES.update((c.name, c) for c in built)
    if _pin:
        for candidate in built:  # builds the thread pools, then they are pinned
            candidate.run(1)
        pin_threads()
    return [(c.name, c.items, c.info) for c in built]


def window(name: str, steps: int) -> float:
    return CANDIDATES[name].run(steps)


def drop() -> None:
    """In a worker: forget every candidate, and the models Keras' global state holds."""
    CANDIDATES.clear()
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()


class Worker:
    """A running worker (starting one returns at once, so several start side by side; calls wait for it)."""

    def __init__(self, label: str, env: dict[str, str], *, inter_op: int = 0, intra_op: int = 0, pin: bool = False,
                 logical_cpus: int = 0) -> None:
        self.label = label
        self._executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                                             initargs=({**BASE_ENV, **env}, inter_op, intra_op, pin, logical_cpus))
        self._pid = self._executor.submit(os.getpid)  # starts the process now

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

    def pid(self) -> int:
        return self.result(self._pid)

    def close(self) -> None:
        self._executor.shutdown()


class Pool:
    """The run's workers by role (:data:`~benchmarks.settings.ROLES`; ``settings.shared_workers``: all but "off" in
    the "on" one) or by process-wide setting; each started on first use and kept until closed."""

    def __init__(self, settings: Settings) -> None:
        self.settings, self.workers = settings, {}

    def get(self, label: str, env: dict[str, str], **setup: Any) -> Worker:
        if label not in self.workers:
            self.workers[label] = Worker(label, env, **setup)
        return self.workers[label]

    def role(self, name: str) -> Worker:
        shared = self.settings.shared_workers and name != "off"
        label, env, setup = ROLES["on" if shared else name]
        return self.get(label, env, **(ROLES["replicas"][2] if shared else setup))

    def process_wide(self, section: str) -> list[tuple[Worker, str, str]]:
        """The process-wide workers ``section`` times (if ``settings.process_wide``): worker, label, variant."""
        return [(self.get(f"oneDNN on, {label}", {ONEDNN_ENV: "1", **env}, **setup), label, sections[section])
                for label, (env, setup, sections) in PROCESS_WIDE.items()
                if self.settings.process_wide and section in sections]

    def drop(self) -> None:
        for worker, future in [(w, w.submit(f"{__name__}:drop")) for w in self.workers.values()]:
            worker.result(future)  # all at once

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
