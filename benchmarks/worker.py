"""Candidates whose settings are process-wide, each timed in its own worker process.

Some settings are read once per process (oneDNN and XLA environment variables, the size of
TensorFlow's thread pools, the cores a thread may run on), so a candidate that changes them runs
in a child process that the parent times window by window, interleaved with the in-process
candidates. The protocol is one line each way: the child prints ``ready`` once it is built;
then ``N`` asks for ``N`` steps and gets back their seconds; other commands are the worker's own.
:class:`Worker` is the parent's side, :func:`serve` the child's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class Worker:
    """A running worker process (``python -m module *args`` with ``env`` added): ``window(steps)``.

    Creating one starts the process and returns at once, so several workers start side by side;
    the first question waits for its ``ready``.
    """

    def __init__(self, module: str, args: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self._process = subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
                                         cwd=Path(__file__).resolve().parents[1])
        self._ready = False

    def ask(self, line: str) -> str:
        """Send one command line and return the answer line."""
        if not self._ready:
            self._expect("ready")
            self._ready = True
        assert self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        return self._read()

    def _read(self) -> str:
        assert self._process.stdout is not None
        answer = self._process.stdout.readline().strip()
        if not answer:
            raise RuntimeError(f"benchmark worker exited with status {self._process.wait()}")
        return answer

    def _expect(self, word: str) -> None:
        answer = self._read()
        if answer != word:
            raise RuntimeError(f"benchmark worker said {answer!r}, expected {word!r}")

    def window(self, steps: int) -> float:
        """Seconds the worker measured for ``steps`` steps."""
        return float(self.ask(str(steps)))

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait()


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


def serve(window: Callable[[int], float], commands: Mapping[str, Callable[[list[str]], str]] | None = None) -> None:
    """The child's side: print ``ready``, then answer each line of standard input until it closes
    (``cores`` answers :func:`thread_cores`)."""
    print("ready", flush=True)
    handlers = {"cores": lambda words: thread_cores(), **(commands or {})}
    for line in sys.stdin:
        words = line.split()
        handler = handlers.get(words[0])
        print(handler(words[1:]) if handler else window(int(words[0])), flush=True)
