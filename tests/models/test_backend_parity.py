"""Across Keras 3 backends: same weights give the same outputs, saved files are portable, TensorFlow is optional.

Each backend runs one fresh Python (``tests/backend_worker.py``; no timeout:
a loaded machine is slow, not wrong) that loads the saved files and predicts; on JAX and
PyTorch it also fits, and does all three with TensorFlow made to look uninstalled. The nets'
weights come from a NumPy seed, so they are identical on TensorFlow, JAX and PyTorch whatever
their own RNGs do.
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

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).resolve().parents[1] / "backend_worker.py"
BACKENDS = ("tensorflow", "jax", "torch")
# Max abs difference of outputs, per unit of their scale (max(1, max |output|)): 1e-4 for ResNet-50 at
# 64x64. Its logits here exceed 1, where float32 rounding alone can put a backend more than 1e-4 away
# from the float64 result, so an unscaled 1e-4 would test rounding.
TOLERANCE = 1e-4


def run_worker(backend: str, job: dict) -> dict:
    """Run one worker job under ``KERAS_BACKEND=backend``; its JSON result (no timeout)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    if backend == "tensorflow":  # its channels_first nets need oneDNN's NCHW kernels, off by default on AVX2 CPUs
        env["TF_ENABLE_ONEDNN_OPTS"] = "1"
    done = subprocess.run([sys.executable, str(WORKER), json.dumps(job)], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"{backend} worker failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["backend"] == backend
    return result


FORMATS = ("channels_last", "channels_first")


def _scale(reference: np.ndarray) -> float:
    return max(1.0, float(np.abs(reference).max()))


def _predictions(folder: Path, backend: str) -> list[dict]:
    """The predict part of ``backend``'s job: every net of NETS in both layouts, from the weights file the
    ``saved`` fixture wrote for it in ``folder``, each output saved there too."""
    return [{**net, "name": name, "data_format": fmt, "weights": str(folder / f"{name}.weights.h5"),
             "output": str(folder / f"{backend}-{name}-{fmt}.npy")} for name, net in NETS.items() for fmt in FORMATS]


@pytest.fixture(scope="module")
def runs(saved) -> dict[str, dict]:
    """Each backend's worker result: the saved files loaded, NETS predicted and, on JAX and PyTorch, a few
    nets fitted, with TensorFlow hidden; the predictions' ``.npy`` files are listed under ``"predict"``."""
    folder = Path(next(iter(saved))).parent
    results = {}
    for backend in BACKENDS:
        job = {"hide_tensorflow": backend != "tensorflow",
               "load": {"files": {path: shape for path, (_, shape) in saved.items()}},
               "predict": {"nets": _predictions(folder, backend)}}
        if backend != "tensorflow":
            job["fit"] = {"nets": {"resnet20": 32, "resnet18": 32}}
        results[backend] = {**run_worker(backend, job), "predict": job["predict"]["nets"]}
    return results


def test_same_weights_give_same_outputs_on_every_backend(runs):
    outputs = {(backend, n["name"], n["data_format"]): np.load(n["output"])
               for backend in BACKENDS for n in runs[backend]["predict"]}
    measured, allowed = {}, {}
    for (backend, name, fmt), out in outputs.items():
        reference = outputs["tensorflow", name, "channels_last"]
        assert reference.std() > 0.5, (name, reference.std())  # logits that differ, not ~0
        assert np.abs(reference).max() < 100, (name, np.abs(reference).max())  # and not blown up
        if (backend, fmt) != ("tensorflow", "channels_last"):
            measured[f"{backend} {name} {fmt}"] = float(np.abs(out - reference).max())
            allowed[f"{backend} {name} {fmt}"] = TOLERANCE * _scale(reference)
    # The builders' default output, softmax probabilities: an absolute 1e-4 as it stands.
    probabilities = {}
    for (backend, name, fmt), out in outputs.items():
        if (backend, fmt) != ("tensorflow", "channels_last"):
            reference = _softmax(outputs["tensorflow", name, "channels_last"])
            probabilities[backend, name, fmt] = float(np.abs(_softmax(out) - reference).max())
    print("max abs diff vs TensorFlow channels_last:", json.dumps(measured, indent=1),
          "max |logit|:", {name: float(np.abs(outputs["tensorflow", name, "channels_last"]).max()) for name in NETS},
          "probabilities:", json.dumps({" ".join(k): v for k, v in probabilities.items()}, indent=1))
    assert all(measured[k] <= allowed[k] for k in measured), (measured, allowed)
    assert max(probabilities.values()) <= TOLERANCE, probabilities


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# Representative nets without option-A shortcuts (V1 bottleneck, V1 basic, V2, CIFAR pre-activation with
# B, a plain twin), small inputs; and the option-A net, which needs keras_resnet's layer to load. The two
# 50-layer nets are built with zero kernel initializers (their weights come from the NumPy seed all the same):
# loading a file builds every variable with the initializer it names, and JAX compiles a random one once per
# kernel shape, most of a ResNet-50's load there. The other nets keep He normal, so that is loaded too.
ZEROS = {"kernel_initializer": "zeros"}
PORTABLE = [
    ("resnet50", {"input_shape": (64, 64, 3), "classes": 5, **ZEROS}),
    ("resnet18", {"input_shape": (32, 32, 3), "classes": 5}),
    ("resnet50v2", {"input_shape": (64, 64, 3), "classes": 5, **ZEROS}),
    ("preact_resnet20", {"shortcut": "B"}),
    ("resnet20", {"plain": True}),
]
OPTION_A = [("resnet20", {})]
# ResNet-50 and the option-A CIFAR net of the files above, each predicted in both layouts from a weights file
# saved beside its .keras file (the same net, built once).
NETS = {
    "resnet50": {"size": [64, 64], "batch": 2, "kwargs": {"classes": 5, "classifier_activation": None, **ZEROS}},
    "resnet20": {"size": [32, 32], "batch": 4, "kwargs": {"classifier_activation": None}},
}
WEIGHTS_OF = {"resnet50": PORTABLE[0], "resnet20": OPTION_A[0]}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, tuple[np.ndarray | None, tuple]]:
    """``.keras`` files saved here (expected outputs; None for option-A nets) and their input shapes; beside
    them, each net of NETS as ``<name>.weights.h5`` (weights from a NumPy seed, batch-norm statistics
    calibrated on other images)."""
    folder = tmp_path_factory.mktemp("portable")
    files = {}
    for index, (name, kwargs) in enumerate(PORTABLE + OPTION_A):
        model = kr.get_model(name, classifier_activation=None, **kwargs)
        shape = tuple(model.input_shape[1:])
        backend_worker.deterministic_weights(model)
        backend_worker.calibrate_batch_norm(model, backend_worker.images([8, *shape], seed=2))
        out = keras.ops.convert_to_numpy(model(backend_worker.images([2, *shape]), training=False))
        path = str(folder / f"{index}-{model.name}.keras")
        model.save(path)
        if WEIGHTS_OF.get(name) == (name, kwargs):
            model.save_weights(str(folder / f"{name}.weights.h5"))
        files[path] = (out if index < len(PORTABLE) else None, shape)
        keras.backend.clear_session()
    return files


@pytest.mark.parametrize("backend", BACKENDS)
def test_keras_files_load_without_keras_resnet(backend, saved, runs):
    result = runs[backend]["load"]
    assert not result["keras_resnet_imported"]
    for path, (expected, _) in saved.items():
        outcome = result["files"][path]
        if expected is None:  # option A: refused; Keras' message names the class and the module to import
            error = outcome.get("error", "")
            assert "Could not locate class 'ZeroPadShortcut'" in error, error[:2000]
            assert "'module': 'keras_resnet.layers'" in error and "keras_resnet>ZeroPadShortcut" in error, error[:2000]
            continue
        assert "error" not in outcome, (Path(path).name, outcome.get("error", "")[:2000])
        got = np.load(outcome["output"])
        print(f"{backend} {Path(path).name}: max abs diff {np.abs(got - expected).max():.3g}")
        assert np.abs(got - expected).max() <= TOLERANCE * _scale(expected), (Path(path).name, got, expected)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_import_build_and_fit_without_tensorflow(backend, runs):
    result = runs[backend]
    assert result["tensorflow_hidden"] and result["tensorflow_imported"] == []
    assert result["fit"] == {"resnet20": [4, 3], "resnet18": [4, 3]}
