"""What this machine is, and its peak float32 FLOP/s from what it reports.

Peak = physical cores x FMA units per core x SIMD float32 lanes x 2 (an FMA
is a multiply and an add) x clock. Cores, SIMD width (AVX-512: 16 lanes,
AVX2: 8, SSE: 4) and clock come from ``lscpu`` and ``/proc/cpuinfo``. The
FMA units per core are not reported anywhere a program can read: 2 is
assumed (every AVX-512 x86 server core since Skylake-SP and AMD Zen 4/5).
The clock is the one ``/proc/cpuinfo`` reports; in a VM without cpufreq that
is the nominal (TSC) clock, not the turbo clock, so real peak can be higher.
A measured float32 matrix product (NumPy's BLAS on all cores) is given
beside the formula as the practical ceiling.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

FMA_UNITS_PER_CORE = 2
SIMD_LANES = (("avx512f", 16), ("avx2", 8), ("sse2", 4))  # float32 lanes by widest vector ISA
GEMM_SIZE = 2048
GEMM_REPEATS = 5


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}


def _cpuinfo() -> dict[str, str]:
    try:
        with open("/proc/cpuinfo") as f:
            first = f.read().split("\n\n")[0]
    except OSError:
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first.splitlines()) if v}


def _int(value: str | None, default: int) -> int:
    match = re.match(r"\d+", value or "")
    return int(match.group()) if match else default


def describe() -> dict[str, Any]:
    """CPU model, cores, flags of interest, clock and the peak float32 GFLOP/s formula with its inputs."""
    lscpu, cpuinfo = _lscpu(), _cpuinfo()
    flags = set(cpuinfo.get("flags", lscpu.get("Flags", "")).split())
    logical = os.cpu_count() or 1
    cores = _int(lscpu.get("Core(s) per socket"), logical) * _int(lscpu.get("Socket(s)"), 1)
    lanes = next((n for flag, n in SIMD_LANES if flag in flags), 1)
    mhz = float(lscpu.get("CPU max MHz") or cpuinfo.get("cpu MHz") or 0.0)
    peak = cores * FMA_UNITS_PER_CORE * lanes * 2 * mhz / 1e3
    return {
        "model": cpuinfo.get("model name", platform.processor()),
        "vendor": lscpu.get("Vendor ID", ""),
        "family_model_stepping": [cpuinfo.get("cpu family"), cpuinfo.get("model"), cpuinfo.get("stepping")],
        "hypervisor": lscpu.get("Hypervisor vendor", "none"),
        "logical_cpus": logical,
        "physical_cores": cores,
        "threads_per_core": _int(lscpu.get("Thread(s) per core"), 1),
        "l2_l3": [lscpu.get("L2 cache", ""), lscpu.get("L3 cache", "")],
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "isa": sorted(f for f in flags if f.startswith(("avx512", "avx2", "fma", "amx", "avx_vnni"))),
        "clock_mhz": mhz,
        "clock_source": "lscpu CPU max MHz" if lscpu.get("CPU max MHz") else "/proc/cpuinfo cpu MHz",
        "fma_units_per_core": FMA_UNITS_PER_CORE,
        "simd_fp32_lanes": lanes,
        "peak_gflops_fp32": round(peak, 1),
        "peak_formula": f"{cores} cores x {FMA_UNITS_PER_CORE} FMA units x {lanes} fp32 lanes x 2 x "
                        f"{mhz / 1e3:.3f} GHz = {peak:.1f} GFLOP/s",
    }


def measured_gemm_gflops(size: int = GEMM_SIZE, repeats: int = GEMM_REPEATS) -> float:
    """Best of ``repeats`` float32 ``size``-cubed matrix products (NumPy's BLAS, all cores), in GFLOP/s."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def load_average() -> list[float]:
    """1, 5 and 15-minute load averages."""
    return [round(v, 2) for v in os.getloadavg()]


def _stat_fields(pid: int | str) -> list[str]:
    """``/proc/<pid>/stat`` after the command name (which may hold spaces): field 3 onwards."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def _own_cpu_seconds() -> float:
    """CPU seconds of this process, of its children it has waited for, and of its live descendants."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):  # a process that ended meanwhile
                stats[int(entry.name)] = _stat_fields(entry.name)
    tree, frontier = set(), {os.getpid()}
    while frontier:
        tree |= frontier
        frontier = {pid for pid, fields in stats.items() if int(fields[1]) in frontier} - tree
    # utime, stime, cutime, cstime (fields 14-17); a descendant's waited-for children count too.
    ticks = sum(int(value) for pid in tree for value in stats[pid][11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _busy_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy (``/proc/stat``: all but idle and iowait) since boot."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """How much of the machine other processes took: CPU seconds the machine spent busy outside this
    process tree, as a share of all CPUs' seconds since the last :meth:`share` (or creation).

    The load average cannot tell: it counts the benchmark's own threads and worker processes too.
    """

    def __init__(self) -> None:
        self._mark()

    def _mark(self) -> None:
        self._clock, self._busy, self._own = time.monotonic(), _busy_cpu_seconds(), _own_cpu_seconds()

    def share(self) -> float:
        """Other processes' CPU share (0 to 1) since the previous call; starts a new interval."""
        clock, busy, own = self._clock, self._busy, self._own
        self._mark()
        capacity = (self._clock - clock) * (os.cpu_count() or 1)
        return round(max(0.0, (self._busy - busy) - (self._own - own)) / capacity, 3)
