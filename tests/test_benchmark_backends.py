"""Smoke test: ``python -m benchmarks.backends`` times ResNet-20 ``fit`` on every backend and reports ratios.

Tiny settings check the plumbing (one subprocess per backend, the JSON, the
printed table), not the speed; no timing is asserted and nothing has a deadline.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "benchmarks.backends", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def test_every_backend_is_timed_and_compared(tmp_path):
    out = tmp_path / "backends.json"
    run = _run("--batch", "4", "--windows", "1", "--window-seconds", "0.01", "--warmup", "1", "--json", str(out))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert [row["backend"] for row in results["rows"]] == ["tensorflow", "jax", "torch"]
    for row in results["rows"]:
        assert row["items_per_step"] == 4 and len(row["windows_items_per_s"]) == 1
        assert math.isfinite(row["median_items_per_s"]) and row["median_items_per_s"] > 0
    assert [row["xla"] for row in results["rows"]] == [False, True, False]
    assert results["ratios_vs_tensorflow"]["tensorflow"] == 1.0
    assert results["fastest"] in ("tensorflow", "jax", "torch")
    for backend in ("tensorflow", "jax", "torch"):
        assert f"{backend}: " in run.stdout
    assert f"fastest here: {results['fastest']}" in run.stdout


def test_bad_flags_are_refused_in_one_line():
    run = _run("--windows", "0")
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == "--windows must be a positive integer; received 0"
