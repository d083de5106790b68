"""The benchmark's idle check: CPU taken by processes outside the benchmark's own process tree.

Only lower bounds are asserted (a busy machine adds CPU time, it never removes it).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import machine, report

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def test_a_process_outside_the_tree_counts_as_other_load(tmp_path: Path) -> None:
    done = tmp_path / "done"
    burner = tmp_path / "burn.py"
    burner.write_text(BURN.format(seconds=1.5) + f"open({str(done)!r}, 'w').close()\n")
    start = time.monotonic()
    other = machine.OtherLoad()
    # The shell starts the burner in the background and exits: the burner is re-parented, not our descendant.
    subprocess.run(["sh", "-c", f"{sys.executable} {burner} >/dev/null 2>&1 &"], check=True)
    while not done.exists():
        time.sleep(0.1)
    share = other.share()
    assert share >= 0.9 * 1.5 / ((time.monotonic() - start) * os.cpu_count())


def test_the_benchmarks_own_children_are_not_other_load() -> None:
    before = machine._own_cpu_seconds()
    subprocess.run([sys.executable, "-c", BURN.format(seconds=1.0)], check=True)
    assert machine._own_cpu_seconds() - before >= 0.9


def test_the_report_calls_a_run_idle_only_below_the_threshold() -> None:
    results = {"machine": {"logical_cpus": 2}, "other_cpu_share": {"training": 0.02, "inference": 0.05}}
    assert "otherwise idle" in report._load_warning(results)
    results["other_cpu_share"]["inference"] = report.IDLE_SHARE + 0.01
    assert "shared the machine" in report._load_warning(results)
