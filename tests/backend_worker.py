"""Subprocess side of tests/test_backend_parity.py: one fresh Python per Keras backend.

``python tests/backend_worker.py JSON`` with ``KERAS_BACKEND`` set by the caller
runs the job's parts in this order:

- ``hide_tensorflow`` (true for JAX and PyTorch): before Keras is imported, make
  TensorFlow look uninstalled (``import`` fails, ``find_spec`` finds nothing), so every
  part below runs without it.
- ``load``: load ``.keras`` files with plain ``keras.models.load_model(...,
  safe_mode=True)`` before keras_resnet is imported, save each output (or the
  error message) and whether keras_resnet got imported.
- ``predict``: build keras_resnet nets with a given weights file, predict
  fixed NumPy images and save the outputs as ``.npy``.
- ``fit``: import keras_resnet, build, fit and predict a few nets.

The result also says which ``tensorflow*`` modules were imported by the end. Nothing here
imports keras_resnet at module level: ``load`` must never see it.
"""

from __future__ import annotations

import json
import pkgutil
import sys

import numpy as np


def _hide_tensorflow() -> None:
    """Make every installed ``tensorflow*`` package look absent: ``import`` raises ModuleNotFoundError
    and ``importlib.util.find_spec`` returns None, as when it is not installed."""
    for module in pkgutil.iter_modules():
        if module.name.startswith("tensorflow"):
            sys.modules[module.name] = None


if __name__ == "__main__" and json.loads(sys.argv[1]).get("hide_tensorflow"):
    _hide_tensorflow()  # before Keras is imported
import keras  # noqa: E402


def deterministic_weights(model, seed: int = 0) -> None:
    """Every variable of ``model`` from ``numpy.random.default_rng(seed)``, in ``model.weights`` order:
    He-normal kernels, small biases, and batch-norm statistics away from 0/1 (so they matter)."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape, name = tuple(variable.shape), variable.path.rsplit("/", 1)[-1]
        if name == "kernel":
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
        elif name in ("gamma", "moving_variance"):
            value = rng.uniform(0.8, 1.2, shape)
        else:  # bias, beta, moving_mean
            value = rng.normal(0.0, 0.05, shape)
        variable.assign(value.astype("float32"))


def calibrate_batch_norm(model, x: np.ndarray) -> None:
    """Moving statistics := the batch statistics of ``x`` (one training-mode pass at momentum 0), as in a
    trained net: activations stay near unit scale, so output differences are rounding, not overflow."""
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(x, training=True)
    for layer, momentum in zip(norms, saved, strict=True):
        layer.momentum = momentum


def images(shape: list[int], seed: int = 1) -> np.ndarray:
    """Fixed float32 images, mean 0 and std 1, shaped ``shape`` (batch first)."""
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def predict(job: dict) -> None:
    """Each of ``job["nets"]`` (name, kwargs, size, batch, data_format, weights file, output) built with
    its weights file and predicted on the same images, saved as ``.npy``."""
    import keras_resnet

    for net in job["nets"]:
        channels_first = net["data_format"] == "channels_first"
        keras.config.set_image_data_format(net["data_format"])
        shape = (3, *net["size"]) if channels_first else (*net["size"], 3)
        model = keras_resnet.get_model(net["name"], input_shape=shape, weights=net["weights"], **net["kwargs"])
        x = images([net["batch"], *net["size"], 3])  # the same pixels in either layout
        if channels_first:
            x = x.transpose(0, 3, 1, 2)
        np.save(net["output"], keras.ops.convert_to_numpy(model(x, training=False)))
    keras.config.set_image_data_format("channels_last")


def load(job: dict) -> dict:
    results = {}
    for path, input_shape in job["files"].items():
        try:
            model = keras.models.load_model(path, safe_mode=True)
        except Exception as err:  # noqa: BLE001 - the message is the result
            results[path] = {"error": f"{type(err).__name__}: {err}"}
            continue
        out = keras.ops.convert_to_numpy(model(images([2, *input_shape]), training=False))
        output = f"{path}.{keras.backend.backend()}.npy"  # one file per backend: each is checked on its own
        np.save(output, out)
        results[path] = {"output": output}
    return {"files": results, "keras_resnet_imported": "keras_resnet" in sys.modules}


def fit(job: dict) -> dict:
    """Each of ``job["nets"]`` (name: image side) built with 3 classes, fitted one epoch and predicted;
    their output shapes."""
    import keras_resnet

    outputs = {}
    for name, size in job["nets"].items():
        model = keras_resnet.get_model(name, input_shape=(size, size, 3), classes=3)
        x = images([4, size, size, 3])
        model.compile("sgd", "sparse_categorical_crossentropy")
        model.fit(x, np.arange(4) % 3, batch_size=2, epochs=1, verbose=0)
        outputs[name] = keras.ops.convert_to_numpy(model.predict(x, verbose=0)).shape
    return outputs


def _tensorflow_hidden() -> bool:
    try:
        import tensorflow  # noqa: F401
    except ModuleNotFoundError:
        return True
    return False


def run(job: dict) -> dict:
    """The job's ``load`` and ``predict`` parts, then its ``fit`` part if it has one."""
    result = {"backend": keras.backend.backend(), "load": load(job["load"])}
    predict(job["predict"])
    if "fit" in job:
        result["fit"] = fit(job["fit"])
    result["tensorflow_hidden"] = _tensorflow_hidden()
    result["tensorflow_imported"] = sorted(name for name, module in sys.modules.items()
                                           if name.startswith("tensorflow") and module is not None)
    return result


if __name__ == "__main__":
    print("RESULT " + json.dumps(run(json.loads(sys.argv[1])), default=list))
