"""Counting what the paper counts: multiply-accumulates (Table 1's "FLOPs"),
weighted layers and parameters, read off the built Keras graph."""

from __future__ import annotations

import math

import keras


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass of one image.

    Counts convolutions and dense layers, as the paper does ("multiply-adds",
    Table 1); BN, ReLU, additions and pooling are left out. Needs a model
    built with a fixed input size.
    """
    total = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape
            out = out[1:3] if layer.data_format == "channels_last" else out[2:4]
            if any(d is None for d in out):
                raise ValueError(
                    f"count_macs needs a fixed input size; layer {layer.name} has output {layer.output.shape}. "
                    "Build the model with e.g. input_shape=(224, 224, 3)."
                )
            kh, kw, cin_per_group, cout = layer.kernel.shape
            total += out[0] * out[1] * kh * kw * cin_per_group * cout
        elif isinstance(layer, keras.layers.Dense):
            kin, kout = layer.kernel.shape
            leading = math.prod(d or 1 for d in layer.output.shape[1:-1])
            total += leading * kin * kout
    return int(total)


def count_weighted_layers(model: keras.Model, main_path_only: bool = True) -> int:
    """Conv + dense layers; ``main_path_only`` leaves out 1x1 projection shortcuts
    (``*_0_conv``), which is how the paper names depth (ResNet-50 = 50)."""
    return sum(
        1
        for layer in _leaf_layers(model)
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
        and not (main_path_only and layer.name.endswith("_0_conv"))
    )


def count_trainable_params(model: keras.Model) -> int:
    """Trainable parameters (the paper's Table 6 count: BN moving stats excluded)."""
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))


def _leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    leaves = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            leaves.extend(_leaf_layers(layer))
        else:
            leaves.append(layer)
    return leaves
