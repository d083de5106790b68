"""Smoke test of ``python -m benchmarks.jpeg_pipeline --tiny`` (no timing is asserted) and its PyTorch
reference's random-resized crop."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import jpeg_pipeline

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = ["decode only", "decode, then crop", "decode the crop", "PyTorch + PIL"]


def test_reference_crop_boxes_follow_torchvisions_ranges() -> None:
    random.seed(0)
    for width, height in ((500, 375), (375, 500)):
        for _ in range(300):
            left, top, right, bottom = jpeg_pipeline.random_resized_crop_box(width, height)
            assert 0 <= left < right <= width and 0 <= top < bottom <= height
            w, h = right - left, bottom - top
            assert 0.07 * width * height <= w * h <= width * height and 0.7 <= w / h <= 1.4
    # No window of 8-100 % area and aspect 3/4-4/3 fits in 200x2: ten misses, then the centred 4:3 window.
    assert jpeg_pipeline.random_resized_crop_box(200, 2) == (98, 0, 101, 2)


@pytest.mark.subprocess
def test_tiny_run_times_every_candidate(tmp_path: Path) -> None:
    out = tmp_path / "pipeline.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.jpeg_pipeline", "--tiny", "--json", str(out)], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert run.returncode == 0, run.stderr[-3000:]
    written = json.loads(out.read_text())
    assert json.loads(run.stdout) == written
    results, ratios = written["results"], written["decode_the_crop_over"]
    assert list(results) == CANDIDATES and {k: written[k] for k in jpeg_pipeline.RUNS["tiny"]} == jpeg_pipeline.RUNS[
        "tiny"]
    assert all(r["images_per_second"] > 0 and r["cpu_ms_per_image"] > 0 for r in results.values())
    assert set(ratios) == set(CANDIDATES) - {"decode the crop"}
    for other, ratio in ratios.items():
        assert ratio["images_per_second"] == pytest.approx(
            results["decode the crop"]["images_per_second"] / results[other]["images_per_second"], abs=1e-3)
    bad = subprocess.run([sys.executable, "-m", "benchmarks.jpeg_pipeline", "--tiny", "extra"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        "python -m benchmarks.jpeg_pipeline: error: unexpected arguments: ['extra'] (it takes --tiny and --json only)"]
    bad = subprocess.run([sys.executable, "-m", "benchmarks.jpeg_pipeline", "--tiny=3"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "--tiny=3" in bad.stderr
