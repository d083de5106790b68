"""Quantization-aware training with tensorflow-model-optimization (tfmot).

1. The Keras 3 model is rebuilt in tf_keras with its weights
   (:mod:`export.tf_keras_rebuild`) and shown equal to it on sample images
   (max abs diff <= :data:`REBUILD_TOLERANCE`), before any training.
2. The whole model is annotated (``quantize_annotate_model``) for tfmot's
   default 8-bit scheme, whose registry is extended to layers it does not
   cover: custom layers get a no-op ``QuantizeConfig`` (they must be
   parameter-free and range-preserving, like zero-padding shortcuts: the
   converter gives them their input's scale); built-in ones (a
   BatchNormalization that follows no convolution, as in pre-activation
   nets, a Normalization layer, ...) get their output quantized. After a
   convolution, BatchNormalization is folded as tfmot always does. Per
   tensor (``per_axis=False``), the twin is instead rebuilt from the
   batch-norm-folded model (``rebuild_checked(fold=True)``): tfmot's fold
   keeps the batch norm's per-channel scale outside the one-scale
   fake-quantized kernel, which the converter cannot write as one int8
   kernel, so it would keep those convolutions in float.
3. ``quantize_apply``, then a short fine-tuning on labelled training data.
   With ``freeze_batch_norm`` (the default) every BatchNormalization keeps
   its trained moving statistics and runs in inference mode while the rest
   fine-tunes: the fine-tuned function is then the one the converter folds
   into the integer convolutions. Batch statistics of small fine-tuning
   batches would otherwise move the moving averages away from what the
   network was trained with.

Upstream workaround (:func:`calibrate_ranges`): tfmot's
``MovingAverageQuantizer`` starts every activation range at [-6, 6] and
moves it toward the observed range with a fixed EMA decay of 0.999
(``tensorflow_model_optimization/python/core/quantization/keras/quantizers.py``,
``MovingAverageQuantizer.build`` and ``__call__``, tfmot 0.8.1). A short
fine-tuning (128 steps: 0.999^128 = 0.88) therefore keeps ranges near
[-6, 6], clipping every larger activation, and the QAT file loses accuracy
that post-training int8 keeps. Before fine-tuning, each range is set to the
float network's activation range on calibration images, as post-training
calibration does; the EMA then refines it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras

from export.data import Data
from export.errors import ExportError
from export.options import QatOptions
from export.tf_keras_rebuild import rebuild
from keras_resnet.inference import fold_batchnorm

REBUILD_TOLERANCE = 1e-5
CALIBRATION_IMAGES = 512  # images whose float activations set the initial quantization ranges

_quant = tfmot.quantization.keras


class NoOpQuantizeConfig(_quant.QuantizeConfig):
    """Quantize nothing in or around the layer."""

    def get_weights_and_quantizers(self, layer: Any) -> list:
        return []

    def get_activations_and_quantizers(self, layer: Any) -> list:
        return []

    def set_quantize_weights(self, layer: Any, quantize_weights: list) -> None:
        pass

    def set_quantize_activations(self, layer: Any, quantize_activations: list) -> None:
        pass

    def get_output_quantizers(self, layer: Any) -> list:
        return []

    def get_config(self) -> dict[str, Any]:
        return {}


class OutputQuantizeConfig(NoOpQuantizeConfig):
    """Quantize only the layer's output (8 bits, asymmetric, moving-average range)."""

    def get_output_quantizers(self, layer: Any) -> list:
        return [_quant.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                         narrow_range=False)]


def _is_custom(layer: Any) -> bool:
    return not type(layer).__module__.startswith("tf_keras.")


class _Registry(_quant.default_8bit.Default8BitQuantizeRegistry):
    """tfmot's default 8-bit registry, extended to every layer.

    Layers it does not cover get a no-op config when custom and an
    output-only config when built in (e.g. a BatchNormalization that follows
    no convolution, or a Normalization layer).
    """

    def supports(self, layer: Any) -> bool:
        return True

    def get_quantize_config(self, layer: Any) -> Any:
        if super().supports(layer):
            return super().get_quantize_config(layer)
        return NoOpQuantizeConfig() if _is_custom(layer) else OutputQuantizeConfig()


class _Scheme(_quant.default_8bit.Default8BitQuantizeScheme):
    def get_quantize_registry(self) -> _Registry:
        return _Registry(disable_per_axis=self._disable_per_axis)


@dataclasses.dataclass(frozen=True)
class QatModel:
    """The fine-tuned quantization-aware tf_keras model and its training history."""

    model: tf_keras.Model
    history: dict[str, list[float]]


def rebuild_checked(model: keras.Model, images: np.ndarray, reference: np.ndarray | None = None,
                    fold: bool = False) -> tuple[tf_keras.Model, float]:
    """The tf_keras twin of ``model`` (with ``fold``, of its batch-norm-folded copy) and its max abs output diff
    from ``model`` on ``images`` (``reference``: ``model``'s outputs on them when already computed)."""
    twin = rebuild(fold_batchnorm(model) if fold else model)
    reference = model.predict(images, verbose=0) if reference is None else reference
    diff = float(np.max(np.abs(reference - twin.predict(images, verbose=0))))
    if not diff <= REBUILD_TOLERANCE:
        raise RuntimeError(f"the tf_keras rebuild differs from the Keras 3 model by {diff:.3g} "
                           f"(tolerance {REBUILD_TOLERANCE})")
    return twin, diff


def quantize(twin: tf_keras.Model, freeze_batch_norm: bool = True, per_axis: bool = True) -> tf_keras.Model:
    """The quantization-aware copy of the tf_keras ``twin`` (``twin`` is left as is), ranges not yet calibrated;
    convolution kernels get a scale per output channel (``per_axis``) or one per tensor."""
    norms = [layer for layer in twin.layers if isinstance(layer, tf_keras.layers.BatchNormalization)]
    trainable = [layer.trainable for layer in norms]
    for layer in norms:
        layer.trainable = layer.trainable and not freeze_batch_norm
    try:
        annotated = _quant.quantize_annotate_model(twin)
    finally:
        for layer, flag in zip(norms, trainable, strict=True):
            layer.trainable = flag
    custom = {tf_keras.saving.get_registered_name(type(layer)): type(layer)
              for layer in twin.layers if _is_custom(layer)}
    scope = {**custom, "NoOpQuantizeConfig": NoOpQuantizeConfig, "OutputQuantizeConfig": OutputQuantizeConfig}
    with _quant.quantize_scope(scope):
        return _quant.quantize_apply(annotated, scheme=_Scheme(disable_per_axis=not per_axis))


def fine_tune(twin: tf_keras.Model, train: Data, options: QatOptions, seed: int, per_axis: bool = True) -> QatModel:
    """Quantize the tf_keras ``twin`` (a copy, see :func:`quantize`), calibrate its ranges and fine-tune it on
    labelled ``train``."""
    quantized = quantize(twin, options.freeze_batch_norm, per_axis)
    calibrate_ranges(quantized, twin, train.x[:CALIBRATION_IMAGES])
    tf_keras.utils.set_random_seed(seed)
    quantized.compile(optimizer=tf_keras.optimizers.Adam(options.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = quantized.fit(train.x, train.y, batch_size=options.batch_size, epochs=options.epochs, shuffle=True,
                            verbose=0)
    return QatModel(quantized, {k: [float(v) for v in vs] for k, vs in history.history.items()})


def _range_vars(wrapper: Any) -> tuple[list[dict], list[dict]]:
    """A QuantizeWrapper's moving-average range variables: on its output, and on its activation's input."""
    outputs, pre_activation = [], []
    if getattr(wrapper, "_output_quantizers", None):
        outputs.append(wrapper._output_quantizer_vars)
    for activation in getattr(wrapper, "_quantize_activations", []):
        if activation._should_post_quantize():
            outputs.append(activation._post_activation_vars)
        if activation._should_pre_quantize():
            pre_activation.append(activation._pre_activation_vars)
    return outputs, pre_activation


def _assign(variables: dict, values: np.ndarray) -> None:
    variables["min_var"].assign(min(float(values.min()), 0.0))
    variables["max_var"].assign(max(float(values.max()), 0.0))


def calibrate_ranges(quantized: tf_keras.Model, twin: tf_keras.Model, images: np.ndarray) -> int:
    """Set the activation ranges of ``quantized`` from the float ``twin`` on ``images``; returns how many were set.

    An output range covers the wrapped layer's float output; a range before
    the activation (softmax logits of a Dense layer) covers ``x @ kernel + bias``.
    """
    wrappers = [layer for layer in quantized.layers if isinstance(layer, _quant.QuantizeWrapperV2)]
    plan = [(wrapper, twin.get_layer(wrapper.layer.name), *_range_vars(wrapper)) for wrapper in wrappers]
    plan = [item for item in plan if item[2] or item[3]]
    tensors = [t for _, layer, _, pre in plan for t in ([layer.output] + ([layer.input] if pre else []))]
    values = tf_keras.Model(twin.inputs, tensors).predict(images, verbose=0, batch_size=128)
    values = iter(values if isinstance(values, list) else [values])
    count = 0
    for _, layer, outputs, pre_activation in plan:
        output = next(values)
        for variables in outputs:
            _assign(variables, output)
            count += 1
        if pre_activation:
            inputs = next(values)
            if not isinstance(layer, tf_keras.layers.Dense):
                raise ExportError("model", f"QAT: cannot calibrate the activation of {layer.name!r} "
                                  f"({type(layer).__name__}); only Dense layers' are supported")
            kernel, bias = (layer.get_weights() + [0.0])[:2]
            for variables in pre_activation:
                _assign(variables, inputs @ kernel + bias)
                count += 1
    return count
