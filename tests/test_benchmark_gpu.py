"""``python -m benchmarks --sections=gpu``: a GPU's name finds NVIDIA's published row; without a GPU the section
returns before building any model (the smoke run in test_benchmarks.py renders that case).

The measurement itself needs an NVIDIA GPU and is not run here; no timing is asserted.
"""

import pytest
import tensorflow as tf

from benchmarks import gpu
from benchmarks.published import PUBLISHED
from benchmarks.settings import TINY


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="a GPU is visible: it would measure")
def test_without_a_gpu_nothing_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import training

    def refuse(*args, **kwargs):
        raise AssertionError("a model was built without a GPU")

    monkeypatch.setattr(training, "keras_model", refuse)
    assert gpu.run({}, settings=TINY) == {"device": None}


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
