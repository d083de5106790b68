"""Where a benchmark ran (:func:`describe`, :func:`slug`), and whether it had the machine to itself.

:class:`OtherLoad`: the CPU other processes took while a section ran, from the machine's busy time (``/proc/stat``)
less the benchmark's own (this process and its workers); the load average cannot tell, it counts the benchmark's.
"""

from __future__ import annotations

import os
import re
import resource
import time
import timeit
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from keras_resnet import cpu

PACKAGES = ("tensorflow", "keras", "torch", "onnxruntime", "tf2onnx", "ai-edge-litert", "jax", "numpy")


def describe(gemm_size: int) -> dict[str, Any]:
    """CPU, ISA features and oneDNN state (:func:`keras_resnet.cpu.describe`), cores, and the GFLOP/s of a float32
    matrix product (NumPy's BLAS on all cores): the practical ceiling the candidates' GFLOP/s are set against."""
    blocks = [dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in block.splitlines()))
              for block in Path("/proc/cpuinfo").read_text().strip().split("\n\n")]
    cores = len({(b.get("physical id"), b.get("core id")) for b in blocks}) or os.cpu_count() or 1
    return {**cpu.describe(), "logical_cpus": os.cpu_count(), "physical_cores": cores,
            "gemm_gflops": round(gemm_gflops(gemm_size), 1), "gemm_size": gemm_size}


def slug(description: dict[str, Any]) -> str:
    """The CPU kind as a file name: its model's words and widest vector ISA (``amd-epyc-family-25-model-1-avx2``)."""
    features = description["features"]
    isa = "avx512" if features["avx512f"] else "avx2" if features["avx2"] else "sse"
    return "-".join([*re.findall(r"[a-z0-9]+", description["cpu"].lower()), isa])


def gemm_gflops(size: int, repeats: int = 5) -> float:
    """Best of ``repeats`` float32 ``size``-cubed matrix products (NumPy's BLAS, all cores; one more warms it up),
    in GFLOP/s."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    return 2 * size**3 / min(timeit.repeat(lambda: a @ a, number=1, repeat=repeats + 1)) / 1e9


def versions() -> dict[str, str]:
    """The installed version of each of :data:`PACKAGES`."""
    installed = {d.metadata["Name"].lower().replace("_", "-"): d.version for d in metadata.distributions()}
    return {name: installed.get(name, "not installed") for name in PACKAGES}


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children it waited for (a worker reports its own when it drops)."""
    return sum(sum(resource.getrusage(who)[:2]) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


class OtherLoad:
    """Other processes' share (0 to 1) of all CPUs since creation: the machine's busy time less the benchmark's own
    (this process's, and ``workers()``: the CPU seconds its live workers last reported)."""

    def __init__(self, workers: Callable[[], float]) -> None:
        self._workers = workers
        self._start = self._totals()

    def _totals(self) -> tuple[float, float, float]:  # busy: all but idle and iowait in /proc/stat
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
        busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
        return time.monotonic(), busy, cpu_seconds() + self._workers()

    def share(self) -> float:
        (clock, busy, own), (clock0, busy0, own0) = self._totals(), self._start
        other = (busy - busy0) - (own - own0)
        return round(min(1.0, max(0.0, other / ((clock - clock0) * (os.cpu_count() or 1)))), 3)  # ticks overshoot
