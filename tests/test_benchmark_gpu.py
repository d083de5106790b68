"""``python -m benchmarks.gpu``: without a GPU it skips in one line and writes nothing; bad flags are refused
in one line before TensorFlow is imported; a GPU's name finds NVIDIA's published row.

The measurement itself needs an NVIDIA GPU and is not run here; no timing is asserted.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from benchmarks import gpu
from benchmarks.published import PUBLISHED

ROOT = Path(__file__).resolve().parents[1]
SKIP_LINE = ("benchmarks.gpu: skipped: no NVIDIA GPU visible to TensorFlow "
             "(tf.config.list_physical_devices('GPU') is empty)")
no_gpu = pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")),
                            reason="a GPU is visible: the script would run the whole benchmark")


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)


@no_gpu
def test_without_a_gpu_it_skips_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "gpu.json"
    run = _run("-m", "benchmarks.gpu", "--json", str(target), cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.splitlines() == [SKIP_LINE]
    assert "Traceback" not in run.stderr
    assert not target.exists() and list(tmp_path.iterdir()) == []


@no_gpu
def test_the_skip_comes_before_any_model_is_built(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a model was built or measured without a GPU")

    for name in ("_resnet50", "training_candidate", "inference_candidates", "run"):
        monkeypatch.setattr(gpu, name, refuse)
    assert gpu.main(["--json", str(tmp_path / "gpu.json")]) == 0
    assert capsys.readouterr().out.splitlines() == [SKIP_LINE]
    assert list(tmp_path.iterdir()) == []


def test_a_bad_flag_exits_2_with_one_line_naming_it() -> None:
    run = _run("-m", "benchmarks.gpu", "--batch", "0")
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.splitlines() == ["python -m benchmarks.gpu: error: --batch must be a positive integer; "
                                       "received 0"]


def test_flags_are_checked_before_tensorflow_is_imported() -> None:
    code = ("import sys; from benchmarks import gpu; status = gpu.main(['--windows', '0']); "
            "print(status, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    run = _run("-c", code)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["2", "False", "False"]


@pytest.mark.parametrize(("flags", "named"), [
    (["--inference-batch", "-1"], "--inference-batch"),
    (["--windows", "0"], "--windows"),
    (["--warmup", "0"], "--warmup"),
    (["--window-seconds", "0"], "--window-seconds"),
    (["--window-seconds", "nan"], "--window-seconds"),
    (["--window-seconds", "inf"], "--window-seconds"),
    (["--json", "/no/such/directory/gpu.json"], "--json"),
])
def test_each_bad_flag_is_named(flags: list[str], named: str, capsys) -> None:
    assert gpu.main(flags) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith(f"python -m benchmarks.gpu: error: {named} must be ")


def test_the_defaults_are_valid() -> None:
    args = gpu._parser().parse_args([])
    assert gpu.flag_error(args) is None
    assert (args.batch, args.inference_batch) == (256, 256)


def _mixed(gpu_model: str) -> dict:
    [row] = [r for r in PUBLISHED["rows"]
             if f" {gpu_model} " in r["system"] and r["precision"] == "mixed precision + XLA"]
    return row


@pytest.mark.parametrize(("device_name", "gpu_model"), [
    ("NVIDIA A100-SXM4-40GB", "A100"),
    ("NVIDIA A100 80GB PCIe", "A100"),
    ("Tesla V100-SXM2-16GB", "V100"),
    ("tesla v100-pcie-32gb", "V100"),
])
def test_a_published_gpu_finds_its_mixed_precision_row(device_name: str, gpu_model: str) -> None:
    row = gpu.published_row(device_name)
    assert row is _mixed(gpu_model)  # the cited row itself, not a copy
    assert row["batch_per_gpu"] == 256 and row["gpus_1"] > 0


@pytest.mark.parametrize("device_name", [
    "NVIDIA H100 80GB HBM3", "Tesla T4", "NVIDIA RTX A1000 Laptop GPU", "NVIDIA GeForce RTX 4090", "",
])
def test_an_unpublished_gpu_has_no_row(device_name: str) -> None:
    assert gpu.published_row(device_name) is None
