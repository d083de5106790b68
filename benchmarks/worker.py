"""Candidates whose settings are process-wide, each timed in its own worker process.

Some settings are read once per process (oneDNN and XLA environment variables, the size of
TensorFlow's thread pools, the cores a thread may run on), so a candidate that changes them runs
in a child process that the parent times window by window, interleaved with the in-process
candidates. The protocol is one line each way: the child says ``ready`` once it is built;
then ``N`` asks for ``N`` steps and gets back their seconds; other commands are the worker's own.
:class:`Worker` is the parent's side, :func:`serve` the child's.

Workers are forked from a server process (multiprocessing's ``forkserver``) that has imported
TensorFlow, Keras, PyTorch and keras_resnet once but run nothing, so each starts without paying
those imports and still sets its environment and thread pools before TensorFlow reads them (it
reads the oneDNN and XLA variables and sizes its pools at first use, not at import). As with any
multiprocessing child, a worker imports its parent's main module, so a
script that starts workers keeps its work under ``if __name__ == "__main__":``. :func:`fork` starts
the benchmarks' other children from the same server (the oneDNN logs, a smoke run's side-by-side
sections).
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection

# Imported once by the fork server: everything the workers import, nothing that runs TensorFlow.
PRELOAD = ["benchmarks.training", "keras_resnet.inference"]
_FORKSERVER = multiprocessing.get_context("forkserver")
_FORKSERVER.set_forkserver_preload(PRELOAD)


def _forked(module: str, args: list[str], env: dict[str, str], channel: Connection) -> None:
    """A worker's body in the forked process: its environment, then ``module.main(args, channel)``."""
    os.environ.update(env)
    importlib.import_module(module).main(args, channel)


def pipe() -> tuple[Connection, Connection]:
    """Two connected ends, one for the parent and one to pass to :func:`fork`'s target."""
    return _FORKSERVER.Pipe()


def receive(channel: Connection, process: multiprocessing.Process, who: str) -> object:
    """The next object ``process`` sends on ``channel``; if it ended instead, an error naming ``who`` and its exit
    status."""
    try:
        return channel.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"{who} exited with status {process.exitcode}") from None


def fork(target: Callable[..., None], *args: object) -> multiprocessing.Process:
    """Start ``target(*args)`` (a module-level function) in a process forked from the server; it ends when
    ``target`` returns (exit status 0) or raises (1)."""
    process = _FORKSERVER.Process(target=target, args=args, daemon=True)
    process.start()
    return process


class Worker:
    """A running worker (``module.main(args)`` forked with ``env`` added): ``ask(line)``, ``window(steps)``.

    Creating one starts the process and returns at once, so several workers start side by side;
    the first question waits for its ``ready``.
    """

    def __init__(self, module: str, args: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self._channel, child = pipe()
        self._process = fork(_forked, module, list(args), dict(env or {}), child)
        child.close()  # the worker holds the only other end: its exit ends our reads
        self._ready = False

    def ask(self, line: str) -> str:
        """Send one command line and return the answer line."""
        if not self._ready:
            self._expect("ready")
            self._ready = True
        self._channel.send(line)
        return self._read()

    def _read(self) -> str:
        return receive(self._channel, self._process, "benchmark worker")

    def _expect(self, word: str) -> None:
        answer = self._read()
        if answer != word:
            raise RuntimeError(f"benchmark worker said {answer!r}, expected {word!r}")

    def window(self, steps: int) -> float:
        """Seconds the worker measured for ``steps`` steps."""
        return float(self.ask(str(steps)))

    def close(self) -> None:
        self._channel.close()
        self._process.join()


def thread_args(inter_op: int = 0, intra_op: int = 0, pin: bool = False) -> list[str]:
    """The flags of :func:`add_thread_flags` for a worker's command line."""
    return ["--inter-op", str(inter_op), "--intra-op", str(intra_op), *(["--pin"] if pin else [])]


def _threads(text: str) -> int:
    """A thread count: 0 (TensorFlow's default) or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"must be 0 (TensorFlow's default) or a positive integer; received {text!r}")
    return int(text)


def add_thread_flags(parser: argparse.ArgumentParser) -> None:
    """A worker's ``--inter-op N`` and ``--intra-op N`` (TensorFlow's thread pools) and ``--pin`` flags."""
    parser.add_argument("--inter-op", type=_threads, default=0, help="TensorFlow inter-op threads (0: its default)")
    parser.add_argument("--intra-op", type=_threads, default=0, help="TensorFlow intra-op threads (0: its default)")
    parser.add_argument("--pin", action="store_true", help="pin every thread to one core once built")


def set_thread_pools(args: argparse.Namespace) -> None:
    """Size TensorFlow's thread pools from ``--inter-op`` and ``--intra-op`` (before TensorFlow runs anything)."""
    import tensorflow as tf

    if args.inter_op:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op)
    if args.intra_op:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op)


def _thread_ids() -> list[int]:
    return sorted(int(tid) for tid in os.listdir("/proc/self/task"))


def pin_threads() -> list[int]:
    """Pin every thread of this process to one core each, round-robin over the cores it may use.

    Linux only (``sched_setaffinity`` on thread ids). TensorFlow's thread pools do not pin their
    threads (its oneDNN runs on TensorFlow's Eigen thread pool, not OpenMP, so ``OMP_PROC_BIND`` and
    ``KMP_AFFINITY`` do not apply); this does it from outside, after the pools exist. Returns the core
    each thread got, in thread-id order.
    """
    cores = sorted(os.sched_getaffinity(0))
    assigned = []
    for index, tid in enumerate(_thread_ids()):
        core = cores[index % len(cores)]
        try:
            os.sched_setaffinity(tid, {core})
        except ProcessLookupError:  # a thread that ended meanwhile
            continue
        assigned.append(core)
    return assigned


def thread_cores() -> str:
    """How many cores each thread of this process may run on, in thread-id order (``"1 1 1"`` when pinned)."""
    counts = []
    for tid in _thread_ids():
        try:
            counts.append(str(len(os.sched_getaffinity(tid))))
        except ProcessLookupError:
            continue
    return " ".join(counts)


def serve(window: Callable[[int], float], channel: Connection,
          commands: Mapping[str, Callable[[list[str]], str]] | None = None) -> None:
    """The child's side: say ``ready`` on ``channel``, then answer each line until the parent closes it
    (``cores`` answers :func:`thread_cores`)."""
    handlers = {"cores": lambda words: thread_cores(), **(commands or {})}
    channel.send("ready")
    while True:
        try:
            words = channel.recv().split()
        except EOFError:
            return
        handler = handlers.get(words[0])
        channel.send(str(handler(words[1:]) if handler else window(int(words[0]))))
