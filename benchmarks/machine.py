"""Where a benchmark ran, and whether it had the machine to itself.

:func:`describe`: the CPU model, its ISA features and TensorFlow's oneDNN state (:func:`keras_resnet.cpu.describe`),
cores and clock, and the peak float32 FLOP/s they imply: cores x FMA units x SIMD float32 lanes x 2 (an FMA is a
multiply and an add) x clock. Two FMA units per core are assumed (no program can read it; every AVX-512 server core
since Skylake-SP, and AMD Zen 3 to 5, has two); in a VM the clock read is the nominal one, so the real peak can be
higher. A measured float32 matrix product (NumPy's BLAS on all cores) is the practical ceiling beside it.

:class:`OtherLoad`: the CPU other processes took while a section ran, from the machine's busy time
(``/proc/stat``) less the benchmark's own (this process, its finished workers and its live ones). The load
average cannot tell: it counts the benchmark's own threads.
"""

from __future__ import annotations

import os
import re
import resource
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from keras_resnet import cpu

FMA_UNITS_PER_CORE = 2
PACKAGES = ("tensorflow", "keras", "torch", "onnxruntime", "tf2onnx", "ai-edge-litert", "jax", "numpy")


def describe(gemm_size: int) -> dict[str, Any]:
    """CPU, ISA features, oneDNN state, cores, clock, the peak float32 GFLOP/s formula and a measured GEMM."""
    blocks = [dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in block.splitlines()))
              for block in Path("/proc/cpuinfo").read_text().strip().split("\n\n")]
    cores = len({(b.get("physical id"), b.get("core id")) for b in blocks}) or os.cpu_count() or 1
    most = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")  # kHz, where the kernel has cpufreq
    mhz = int(most.read_text()) / 1e3 if most.exists() else float(blocks[0].get("cpu MHz", 0.0))
    lanes = 16 if cpu.features()["avx512f"] else 8 if cpu.features()["avx2"] else 4
    peak = cores * FMA_UNITS_PER_CORE * lanes * 2 * mhz / 1e3
    return {**cpu.describe(), "logical_cpus": os.cpu_count(), "physical_cores": cores, "clock_mhz": mhz,
            "peak_gflops_fp32": round(peak, 1), "gemm_gflops": round(gemm_gflops(gemm_size), 1), "gemm_size": gemm_size,
            "peak_formula": f"{cores} cores x {FMA_UNITS_PER_CORE} FMA units x {lanes} fp32 lanes x 2 x "
                            f"{mhz / 1e3:.3f} GHz = {peak:.1f} GFLOP/s"}


def slug(description: dict[str, Any]) -> str:
    """The CPU kind as a file name: its model's words and widest vector ISA (``amd-epyc-family-25-model-1-avx2``)."""
    features = description["features"]
    isa = "avx512" if features["avx512f"] else "avx2" if features["avx2"] else "sse"
    return "-".join([*re.findall(r"[a-z0-9]+", description["cpu"].lower()), isa])


def gemm_gflops(size: int, repeats: int = 5) -> float:
    """Best of ``repeats`` float32 ``size``-cubed matrix products (NumPy's BLAS, all cores), in GFLOP/s."""
    a, b = (np.random.default_rng(0).standard_normal((size, size), dtype=np.float32) for _ in range(2))
    best = float("inf")
    for _ in range(repeats + 1):  # the first call warms the BLAS up
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def versions() -> dict[str, str]:
    """The installed version of each of :data:`PACKAGES`."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (``/proc/stat``: all but idle and iowait)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds(pids: list[int]) -> float:
    """CPU seconds of this process, its waited-for children and the live processes ``pids`` (its workers)."""
    own = sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
              for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # ended: waited for, so in RUSAGE_CHILDREN
            continue
        own += sum(map(int, text[text.rindex(")") + 2:].split()[11:15])) / os.sysconf("SC_CLK_TCK")
    return own


class OtherLoad:
    """Other processes' share (0 to 1) of all CPUs since creation; ``pids()`` lists the benchmark's live workers."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self._pids = pids
        self._clock, self._busy, self._own = time.monotonic(), _busy_seconds(), own_seconds(pids())

    def share(self) -> float:
        capacity = (time.monotonic() - self._clock) * (os.cpu_count() or 1)
        other = (_busy_seconds() - self._busy) - (own_seconds(self._pids()) - self._own)
        return round(min(1.0, max(0.0, other / capacity)), 3)  # clock ticks and rounding can overshoot
