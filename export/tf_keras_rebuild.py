"""Rebuild a Keras 3 functional model in tf_keras (Keras 2), weights included.

tensorflow-model-optimization only quantizes tf_keras models, so QAT needs
the same network in tf_keras. Nothing here knows any architecture: the Keras 3
functional graph is walked from ``model.get_config()``; each layer becomes
the tf_keras layer of the same class (or, for a custom layer, its tf_keras
twin, below) built from the same config, called on the same inputs, and
given the same weights.

Config translation: a Keras 3 dtype policy becomes its name, a serialized
Keras 3 initializer/regularizer/constraint keeps only the arguments the
tf_keras class takes, and Keras-3-only options left at ``None``/``False``
(``lora_rank``, ``quantization_config``, ``synchronized``, ...) are dropped;
anything else tf_keras rejects is an error naming the layer.

Custom layers: the tf_keras twin is the class tf_keras has registered under
the layer's registered name (``"package>ClassName"``). A module defining
custom Keras 3 layers can register its twins lazily by providing
``tf_keras_custom_objects() -> dict[registered name, class]``; it is called
if present.
"""

from __future__ import annotations

import collections
import inspect
import sys
from typing import Any

import keras
import tensorflow as tf
import tf_keras

from export.errors import ExportError

_BASE_LAYER_KEYS = ("name", "trainable", "dtype")
_KERAS_TENSOR = "__keras_tensor__"


def _unsupported(detail: str) -> ExportError:
    return ExportError("model", f"QAT needs the model rebuilt in tf_keras, which failed: {detail}")


def _twin_class(layer: keras.layers.Layer) -> type:
    """The tf_keras class standing for ``layer``'s class."""
    cls = type(layer)
    if cls.__module__.startswith("keras."):
        twin = getattr(tf_keras.layers, cls.__name__, None)
        registered = cls.__name__
    else:
        registered = keras.saving.get_registered_name(cls)
        hook = getattr(sys.modules.get(cls.__module__), "tf_keras_custom_objects", None)
        twins = hook() if callable(hook) else {}
        twin = twins.get(registered) or tf_keras.saving.get_registered_object(registered)
    if twin is None:
        raise _unsupported(f"layer {layer.name!r}: tf_keras has no layer registered as {registered!r}")
    return twin


def _serialized_object(value: Any) -> Any:
    """A Keras 3 serialized dtype policy / initializer / regularizer / constraint in tf_keras terms."""
    if not (isinstance(value, dict) and {"class_name", "config", "module"} <= value.keys()):
        return value
    if value["class_name"] == "DTypePolicy":
        return value["config"]["name"]
    kind = (value["module"] or "").split(".")
    cls = getattr(getattr(tf_keras, kind[1], None), value["class_name"], None) if len(kind) > 1 else None
    if kind[0] != "keras" or cls is None:
        return value
    accepted = inspect.signature(cls.__init__).parameters
    return {"class_name": value["class_name"], "config": {k: v for k, v in value["config"].items() if k in accepted}}


def _twin_config(config: dict[str, Any], cls: type) -> dict[str, Any]:
    accepted = inspect.signature(cls.__init__).parameters
    return {
        key: _serialized_object(value)
        for key, value in config.items()
        if key in accepted or key in _BASE_LAYER_KEYS or not (value is None or value is False)
    }


def _resolve(value: Any, tensors: dict[tuple[str, int], list[Any]]) -> Any:
    """Replace serialized Keras tensors in call arguments with the tf_keras tensors (KeyError if not built yet)."""
    if isinstance(value, dict) and value.get("class_name") == _KERAS_TENSOR:
        name, node, index = value["config"]["keras_history"]
        return tensors[(name, node)][index]
    if isinstance(value, (list, tuple)):
        return [_resolve(item, tensors) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(item, tensors) for key, item in value.items()}
    return value


def _specs(spec: list) -> list[list]:
    """``input_layers``/``output_layers`` of a config: one ``[name, node, index]`` or a list of them."""
    return spec if spec and isinstance(spec[0], list) else [spec]


def _endpoints(spec: list, tensors: dict[tuple[str, int], list[Any]]) -> Any:
    found = [tensors[(name, node)][index] for name, node, index in _specs(spec)]
    return found[0] if len(found) == 1 else found


def _functional(model: keras.Model) -> tuple[keras.Model, dict[str, Any]]:
    """``model`` (a Sequential as the equivalent functional model) and its functional config."""
    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    config = model.get_config()
    if "input_layers" not in config:
        raise _unsupported(f"{model.name!r} ({type(model).__name__}) is not a functional or Sequential model")
    return model, config


class _Rebuilder:
    """Builds tf_keras twins of layers (once per layer, so shared layers stay shared) and wires them."""

    def __init__(self) -> None:
        self.pairs: dict[int, tuple[keras.layers.Layer, tf_keras.layers.Layer]] = {}

    def twin(self, layer: keras.layers.Layer, config: dict[str, Any]) -> tf_keras.layers.Layer:
        if id(layer) not in self.pairs:
            cls = _twin_class(layer)
            try:
                self.pairs[id(layer)] = (layer, cls.from_config(_twin_config(config, cls)))
            except (TypeError, ValueError) as exc:
                raise _unsupported(f"layer {layer.name!r} ({cls.__name__}): {exc}") from exc
        return self.pairs[id(layer)][1]

    def wire(self, model: keras.Model, inputs: list[Any]) -> Any:
        """Call the twins of ``model``'s layers on ``inputs`` as the model does; nested models are inlined."""
        model, config = _functional(model)
        tensors: dict[tuple[str, int], list[Any]] = {}
        for (name, node, _), tensor in zip(_specs(config["input_layers"]), inputs, strict=True):
            tensors[(name, node)] = [tensor]
        queue = collections.deque((entry, node) for entry in config["layers"] if entry["class_name"] != "InputLayer"
                                  for node in range(len(entry["inbound_nodes"])))
        waiting = 0
        while queue:  # call each layer once its inputs exist (shared layers may wait)
            entry, node = queue.popleft()
            call = entry["inbound_nodes"][node]
            try:
                args = _resolve(call["args"], tensors)
                kwargs = {k: _resolve(v, tensors) for k, v in call["kwargs"].items() if v is not None}
            except KeyError:
                queue.append((entry, node))
                waiting += 1
                if waiting > len(queue):
                    raise _unsupported(f"the layer graph of {model.name!r} has unreachable inputs") from None
                continue
            waiting = 0
            layer = model.get_layer(entry["name"])
            if isinstance(layer, keras.Model):
                outputs = self.wire(layer, tf.nest.flatten(args))
            else:
                outputs = self.twin(layer, entry["config"])(*args, **kwargs)
            # Keras counts a nested functional model's own construction as its node 0.
            node += isinstance(layer, keras.Model) and not isinstance(layer, keras.Sequential)
            tensors[(entry["name"], node)] = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return _endpoints(config["output_layers"], tensors)


def rebuild(model: keras.Model) -> tf_keras.Model:
    """The tf_keras twin of a functional or Sequential Keras 3 ``model``, with its weights.

    Nested functional/Sequential models are inlined, so the twin is one flat
    graph (tfmot cannot quantize models inside models).
    """
    model, config = _functional(model)
    inputs = [tf_keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=name)
              for tensor, (name, _, _) in zip(model.inputs, _specs(config["input_layers"]), strict=True)]
    rebuilder = _Rebuilder()
    outputs = rebuilder.wire(model, inputs)
    twin = tf_keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs, name=model.name)
    for layer, twin_layer in rebuilder.pairs.values():
        weights = layer.get_weights()
        if [w.shape for w in weights] != [tuple(w.shape) for w in twin_layer.weights]:
            raise _unsupported(f"layer {layer.name!r}: weight shapes differ between Keras 3 and tf_keras")
        twin_layer.set_weights(weights)
    return twin
