"""An inference-optimised copy of a trained model: batch norm folded into the convolutions.

In inference, ``BatchNormalization`` is a per-channel affine map
``y = gamma * (x - mean) / sqrt(var + eps) + beta``. When it directly
follows a ``Conv2D`` whose output nothing else reads, it can be folded into
that convolution's kernel and bias::

    scale = gamma / sqrt(var + eps)
    kernel' = kernel * scale            (per output channel)
    bias'   = (bias - mean) * scale + beta

which removes one full read and write of an activation tensor per folded convolution
(ResNet-50 has 53 such pairs). :func:`optimize_for_inference` does this and
compiles the copy for ``predict``/``predict_on_batch``. XLA (``jit_compile``)
is off by default, as Keras has it on CPU-only machines: XLA:CPU lowers
convolutions to Eigen kernels that are slower than the oneDNN kernels
TensorFlow's graph executor uses (``python -m benchmarks`` measures both).
The copy computes the same function as the original to float32 rounding
(tested to 1e-4), keeps layer names (each folded BN becomes a
:class:`FoldedBatchNorm` identity layer) and can be saved or exported like any
Keras model. It is for inference only: training it would train a different
parametrisation without batch statistics.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

FOLDABLE_ACTIVATIONS = ("linear",)


@keras.saving.register_keras_serializable(package="keras_resnet")
class FoldedBatchNorm(keras.layers.Layer):
    """Stands where a batch norm was folded into the preceding convolution: the identity.

    Takes ``BatchNormalization``'s call arguments, so the graph rewires unchanged.
    """

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


def _producer(layer: keras.layers.Layer) -> keras.layers.Layer | None:
    """The layer whose output ``layer`` reads, when it reads exactly one tensor at exactly one call site."""
    nodes = layer._inbound_nodes
    if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
        return None
    return nodes[0].input_tensors[0]._keras_history.operation


def _foldable(conv: Any, bn: keras.layers.BatchNormalization) -> bool:
    """``bn`` is the only reader of ``conv``'s single output and normalises its channel axis."""
    return (isinstance(conv, keras.layers.Conv2D) and not isinstance(conv, keras.layers.Conv2DTranspose)
            and bn.axis in ((-1, 3) if conv.data_format == "channels_last" else (1,))
            and keras.activations.serialize(conv.activation) in FOLDABLE_ACTIVATIONS
            and len(conv._inbound_nodes) == 1 and len(conv._outbound_nodes) == 1)


def foldable_pairs(model: keras.Model) -> dict[str, str]:
    """``{conv layer name: batch-norm layer name}`` of every Conv2D -> BatchNormalization pair that
    :func:`fold_batchnorm` folds (top-level layers of a functional model)."""
    pairs = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            conv = _producer(layer)
            if conv is not None and _foldable(conv, layer):
                pairs[conv.name] = layer.name
    return pairs


def folded_weights(conv: keras.layers.Conv2D, bn: keras.layers.BatchNormalization) -> list[np.ndarray]:
    """``[kernel, bias]`` of a biased convolution equal to ``bn(conv(x))`` in inference mode."""
    kernel = keras.ops.convert_to_numpy(conv.kernel).astype(np.float64)
    bias = (keras.ops.convert_to_numpy(conv.bias).astype(np.float64) if conv.use_bias
            else np.zeros(kernel.shape[-1]))
    gamma = keras.ops.convert_to_numpy(bn.gamma).astype(np.float64) if bn.scale else 1.0
    beta = keras.ops.convert_to_numpy(bn.beta).astype(np.float64) if bn.center else 0.0
    mean = keras.ops.convert_to_numpy(bn.moving_mean).astype(np.float64)
    variance = keras.ops.convert_to_numpy(bn.moving_variance).astype(np.float64)
    scale = gamma / np.sqrt(variance + bn.epsilon)
    dtype = keras.backend.standardize_dtype(conv.kernel.dtype)
    return [(kernel * scale).astype(dtype), ((bias - mean) * scale + beta).astype(dtype)]


def fold_batchnorm(model: keras.Model) -> keras.Model:
    """A copy of the functional ``model`` with each BN that follows a Conv2D folded into it.

    Folded convolutions get a bias; folded BN layers become ``Identity``
    layers of the same name; every other layer keeps its weights. The input
    model is not modified.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
        raise ValueError(f"`model` must be a functional keras.Model; received {type(model).__name__}")
    pairs = foldable_pairs(model)
    folded_bns = set(pairs.values())

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if layer.name in folded_bns:
            return FoldedBatchNorm(name=layer.name)
        config = layer.get_config()
        if layer.name in pairs:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if layer.name in folded_bns or not layer.weights:
            continue
        weights = (folded_weights(layer, model.get_layer(pairs[layer.name])) if layer.name in pairs
                   else layer.get_weights())
        copy.get_layer(layer.name).set_weights(weights)
    return copy


def optimize_for_inference(model: keras.Model, *, fold: bool = True, jit_compile: bool = False) -> keras.Model:
    """The fastest inference copy of ``model`` on this package's defaults.

    Args:
        model: A functional Keras model (e.g. any ``keras_resnet`` net, or
            keras.applications' ResNet50).
        fold: Fold batch norm into the preceding convolutions
            (:func:`fold_batchnorm`).
        jit_compile: Compile ``predict``/``predict_on_batch`` with XLA (slower
            than oneDNN on CPU; may pay off on GPU).

    Returns:
        A new model; call ``predict`` or ``predict_on_batch`` on it.
    """
    fast = fold_batchnorm(model) if fold else keras.models.clone_model(model)
    if not fold:
        fast.set_weights(model.get_weights())
    fast.compile(jit_compile=jit_compile)
    return fast


def tf_keras_custom_objects() -> dict[str, type]:
    """The tf_keras (Keras 2) twin of :class:`FoldedBatchNorm`, by registered name, so a folded model can be
    rebuilt in tf_keras (:mod:`export.tf_keras_rebuild`): per-tensor quantization-aware training folds first.

    Imported lazily: tf_keras is only needed for quantization-aware training.
    """
    import tf_keras

    name = keras.saving.get_registered_name(FoldedBatchNorm)
    twin = tf_keras.saving.get_registered_object(name)
    if twin is None:
        bases = (tf_keras.layers.Layer,)
        methods = {method: FoldedBatchNorm.__dict__[method] for method in ("call", "compute_output_shape")}
        twin = type("FoldedBatchNorm", bases, {"__doc__": FoldedBatchNorm.__doc__, **methods})
        twin = tf_keras.saving.register_keras_serializable(package="keras_resnet")(twin)
    return {name: twin}
