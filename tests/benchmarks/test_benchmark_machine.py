"""The benchmark's idle check (CPU taken by processes other than the benchmark and its workers) and the name of
a CPU kind's results file. (A worker's own CPU report is tested in test_benchmark_workers.py.)

Only lower bounds are asserted (a busy machine adds CPU time, it never removes it).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import machine

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


@pytest.mark.subprocess
def test_a_process_outside_the_benchmark_counts_as_other_load(tmp_path: Path) -> None:
    done, burner = tmp_path / "done", tmp_path / "burn.py"
    burner.write_text(BURN.format(seconds=1.5) + f"open({str(done)!r}, 'w').close()\n")
    start, other = time.monotonic(), machine.OtherLoad(lambda: 0.0)
    # The shell starts the burner in the background and exits: the burner is re-parented, not our child.
    subprocess.run(["sh", "-c", f"{sys.executable} {burner} >/dev/null 2>&1 &"], check=True)
    while not done.exists():
        time.sleep(0.1)
    assert other.share() >= 0.9 * 1.5 / ((time.monotonic() - start) * os.cpu_count())


@pytest.mark.subprocess
def test_the_benchmarks_own_processes_are_not_other_load() -> None:
    before = machine.cpu_seconds()
    subprocess.run([sys.executable, "-c", BURN.format(seconds=1.0)], check=True)  # a finished child
    assert machine.cpu_seconds() - before >= 0.9
    workers = [0.0]
    other = machine.OtherLoad(lambda: workers[0])
    workers[0] = 1e6  # the workers reported more CPU than the machine has: none of it is other processes'
    assert other.share() == 0.0


@pytest.mark.parametrize(("model", "features", "slug"), [
    ("AMD EPYC (family 25, model 1)", {"avx2": True, "avx512f": False}, "amd-epyc-family-25-model-1-avx2"),
    ("AMD EPYC (family 25, model 17)", {"avx2": True, "avx512f": True}, "amd-epyc-family-25-model-17-avx512"),
    ("Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz", {"avx2": True, "avx512f": True},
     "intel-r-xeon-r-platinum-8375c-cpu-2-90ghz-avx512"),
    ("QEMU Virtual CPU version 2.5+", {"avx2": False, "avx512f": False}, "qemu-virtual-cpu-version-2-5-sse"),
])
def test_a_cpu_kind_names_its_results_file(model: str, features: dict, slug: str) -> None:
    assert machine.slug({"cpu": model, "features": features}) == slug


def test_this_machine_has_a_results_file_name() -> None:
    from keras_resnet import cpu

    name = machine.slug(cpu.describe())
    assert name.endswith(("-avx512", "-avx2", "-sse")) and name == name.lower() and "/" not in name
