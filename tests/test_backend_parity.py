"""Across Keras 3 backends: same weights give the same outputs, saved files are portable, TensorFlow is optional.

Each backend runs in a fresh Python (``tests/backend_worker.py``; no timeout:
a loaded machine is slow, not wrong). The net's weights come from a NumPy seed,
so they are identical on TensorFlow, JAX and PyTorch whatever their own RNGs do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import backend_worker
import keras
import numpy as np
import pytest

import keras_resnet as kr

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("backend_worker.py")
BACKENDS = ("tensorflow", "jax", "torch")
TOLERANCE = 1e-4  # max abs difference of ResNet-50 logits at 64x64 (issue 12)


def run_worker(backend: str, command: str, job: dict) -> dict:
    """Run one worker command under ``KERAS_BACKEND=backend``; its JSON result (no timeout)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(WORKER), command, json.dumps(job)], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"{backend} {command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["backend"] == backend
    return result


# ResNet-50 (the check) and the option-A CIFAR net, each in both layouts from one weights file.
NETS = {
    "resnet50": {"size": [64, 64], "batch": 2, "kwargs": {"classes": 10, "classifier_activation": None}},
    "resnet20": {"size": [32, 32], "batch": 4, "kwargs": {"classifier_activation": None}},
}
FORMATS = ("channels_last", "channels_first")


def _weights_file(tmp_path: Path, name: str, size: list[int], kwargs: dict) -> str:
    """Weights from a NumPy seed, batch-norm statistics calibrated on other images, saved as .weights.h5."""
    model = kr.get_model(name, input_shape=(*size, 3), **kwargs)
    backend_worker.deterministic_weights(model)
    backend_worker.calibrate_batch_norm(model, backend_worker.images([8, *size, 3], seed=2))
    path = str(tmp_path / f"{name}.weights.h5")
    model.save_weights(path)
    return path


def test_same_weights_give_same_outputs_on_every_backend(tmp_path):
    files = {name: _weights_file(tmp_path, name, net["size"], net["kwargs"]) for name, net in NETS.items()}
    outputs = {}
    for backend in BACKENDS:
        nets = [{**net, "name": name, "data_format": fmt, "weights": files[name],
                 "output": str(tmp_path / f"{backend}-{name}-{fmt}.npy")}
                for name, net in NETS.items() for fmt in FORMATS]
        run_worker(backend, "predict", {"nets": nets})
        outputs.update({(backend, n["name"], n["data_format"]): np.load(n["output"]) for n in nets})
    measured = {}
    for (backend, name, fmt), out in outputs.items():
        reference = outputs["tensorflow", name, "channels_last"]
        assert reference.std() > 0.5, (name, reference.std())  # logits that differ, not ~0
        assert np.abs(reference).max() < 100, (name, np.abs(reference).max())  # and not blown up
        if (backend, fmt) != ("tensorflow", "channels_last"):
            measured[f"{backend} {name} {fmt}"] = float(np.abs(out - reference).max())
    print("max abs diff vs TensorFlow channels_last:", json.dumps(measured, indent=1))
    assert max(measured.values()) <= TOLERANCE, measured


# Representative nets without option-A shortcuts (V1 bottleneck, V1 basic, V2, CIFAR with B, a plain
# twin), small inputs; and the option-A net, which needs keras_resnet's layer to load.
PORTABLE = {
    "resnet50": {"input_shape": (64, 64, 3), "classes": 5},
    "resnet18": {"input_shape": (32, 32, 3), "classes": 5},
    "resnet50v2": {"input_shape": (64, 64, 3), "classes": 5},
    "resnet20": {"shortcut": "B"},
    "preact_resnet110": {"plain": True},
}
OPTION_A = {"resnet20": {}}


def _save(tmp_path: Path, name: str, kwargs: dict, tag: str) -> tuple[str, np.ndarray, tuple]:
    model = kr.get_model(name, classifier_activation=None, **kwargs)
    input_shape = tuple(model.input_shape[1:])
    backend_worker.deterministic_weights(model)
    backend_worker.calibrate_batch_norm(model, backend_worker.images([8, *input_shape], seed=2))
    expected = keras.ops.convert_to_numpy(model(backend_worker.images([2, *input_shape]), training=False))
    path = str(tmp_path / f"{tag}-{name}.keras")
    model.save(path)
    return path, expected, input_shape


@pytest.mark.parametrize("backend", BACKENDS)
def test_keras_files_load_without_keras_resnet(backend, tmp_path):
    saved = {path: (expected, shape) for path, expected, shape in
             (_save(tmp_path, n, kw, "portable") for n, kw in PORTABLE.items())}
    option_a = [_save(tmp_path, n, kw, "option_a")[0] for n, kw in OPTION_A.items()]
    job = {"files": {**{p: s for p, (_, s) in saved.items()}, **{p: [32, 32, 3] for p in option_a}}}
    result = run_worker(backend, "load", job)
    assert not result["keras_resnet_imported"]
    for path, (expected, _) in saved.items():
        outcome = result["files"][path]
        assert "error" not in outcome, (Path(path).name, outcome.get("error", "")[:2000])
        np.testing.assert_allclose(np.load(outcome["output"]), expected, atol=TOLERANCE, err_msg=path)
    for path in option_a:
        message = result["files"][path].get("error", "")
        # Named in what the message says, not only inside the layer config Keras appends to it.
        head = message.split("Full object config")[0]
        assert "keras_resnet" in head, message[:2000]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_import_build_and_fit_without_tensorflow(backend):
    result = run_worker(backend, "without_tensorflow", {"nets": {"resnet20": 32, "resnet18": 32}})
    assert result["tensorflow_imported"] == []
    assert result["outputs"] == {"resnet20": [4, 3], "resnet18": [4, 3]}
