"""Benchmark candidates in worker processes, each started with its own environment before TensorFlow is imported.

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` at import, ``XLA_FLAGS``, ``ONEDNN_*`` and its thread pools at first use:
comparing such settings takes a process each. A worker is started by multiprocessing's ``spawn`` (a fresh
interpreter), sets them first, then answers requests: ``load`` (a factory ``"module:function"`` and its keyword
arguments, returning candidates), ``window``, ``call`` (a function given the candidates and keyword arguments),
``drop``. A failure comes back as the worker's traceback. As with any ``spawn`` child, a worker imports its parent's
main script: a script that starts workers keeps its work under ``__name__ == "__main__"``.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import traceback
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from benchmarks.timing import Candidate

SPAWN = multiprocessing.get_context("spawn")
#: Under a worker's own settings: quiet TensorFlow, Keras on TensorFlow, Inductor compiling in the worker (not in
#: processes of its own, which the CPU accounting would miss).
BASE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", "TORCHINDUCTOR_COMPILE_THREADS": "1"}


def _function(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _answer(command: str, args: tuple, candidates: dict[str, Candidate], pin: bool) -> Any:
    if command == "load":
        loaded = _function(args[0])(**args[1])
        candidates.update((c.name, c) for c in loaded)
        if pin:
            for candidate in loaded:  # builds the thread pools, then they are pinned
                candidate.run(1)
            pin_threads()
        return [(c.name, c.items, c.info) for c in loaded]
    if command == "window":
        return candidates[args[0]].run(args[1])
    if command == "call":
        return _function(args[0])(candidates, **args[1])
    candidates.clear()  # "drop": the models too, which Keras' global state holds
    return sys.modules["keras"].backend.clear_session() if "keras" in sys.modules else None


def _serve(env: dict[str, str], inter_op: int, intra_op: int, pin: bool, logical_cpus: int,
           channel: Connection) -> None:
    """The worker: its environment and thread pools, then requests until the parent closes the channel."""
    if "tensorflow" in sys.modules:  # the guarantee this module exists for
        raise RuntimeError("TensorFlow was imported before the worker's environment was set")
    os.environ.update(env)
    if inter_op or intra_op or logical_cpus:
        import tensorflow as tf

        from keras_resnet import distribute

        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        if logical_cpus:
            distribute.split_cpu(logical_cpus)
    candidates: dict[str, Candidate] = {}
    while True:
        try:
            command, args = channel.recv()
        except EOFError:
            return
        try:
            channel.send(("ok", _answer(command, args, candidates, pin)))
        except Exception:
            channel.send(("error", traceback.format_exc()))


class Worker:
    """A running worker (starting one returns at once, so several start side by side; requests wait for it)."""

    def __init__(self, label: str, env: Mapping[str, str] | None = None, *, inter_op: int = 0, intra_op: int = 0,
                 pin: bool = False, logical_cpus: int = 0) -> None:
        self.label = label
        self._channel, child = SPAWN.Pipe()
        self._process = SPAWN.Process(target=_serve, daemon=True, args=(
            {**BASE_ENV, **(env or {})}, inter_op, intra_op, pin, logical_cpus, child))
        self._process.start()
        self.pid = self._process.pid
        child.close()  # the worker holds the only other end: its exit ends our reads

    def send(self, command: str, *args: Any) -> None:
        self._channel.send((command, args))

    def receive(self) -> Any:
        """The answer to the oldest request not yet received; an error naming the worker if it failed or died."""
        try:
            status, answer = self._channel.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(f"benchmark worker {self.label!r} exited with status {self._process.exitcode}") from None
        if status == "error":
            raise RuntimeError(f"benchmark worker {self.label!r} failed:\n{answer}")
        return answer

    def request(self, command: str, *args: Any) -> Any:
        self.send(command, *args)
        return self.receive()

    def call(self, function: str, **kwargs: Any) -> Any:
        """``function(candidates, **kwargs)`` in the worker (``"module:function"``)."""
        return self.request("call", function, kwargs)

    def close(self) -> None:
        self._channel.close()
        self._process.join()


def load(requests: list[tuple[Worker, str, dict[str, Any]]]) -> list[Candidate]:
    """Each factory's candidates, loaded into its worker (all workers build at once), timed from here."""
    for worker, factory, kwargs in requests:
        worker.send("load", factory, kwargs)
    return [Candidate(name, items, window=lambda steps, w=worker, name=name: w.request("window", name, steps),
                      info={**info, "worker": worker.label})
            for worker, _, _ in requests for name, items, info in worker.receive()]


def pin_threads() -> None:
    """Pin every thread of this process to one core each, round-robin over its cores (Linux). TensorFlow's pools do
    not pin their threads (its oneDNN runs on TensorFlow's pool, not OpenMP, so ``OMP_PROC_BIND`` does not apply)."""
    cores = sorted(os.sched_getaffinity(0))
    for index, tid in enumerate(sorted(int(t) for t in os.listdir("/proc/self/task"))):
        try:
            os.sched_setaffinity(tid, {cores[index % len(cores)]})
        except ProcessLookupError:  # a thread that ended meanwhile
            continue
