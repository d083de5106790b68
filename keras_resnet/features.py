"""Backbone features: the stage outputs (C2-C5) for detection and segmentation heads.

As used in Faster R-CNN / FPN with ResNet-101 (paper §4.3 and Appendix A).
The builder records each stage's output while it builds
(``model.pyramid_outputs``, keras-hub's name); a model loaded from a file has
lost that attribute, and its stage outputs are found again from the layer
names and the layers' own configured strides, never from static shapes (which
are ``None`` at a variable input size).
"""

from __future__ import annotations

import re
from typing import Any

import keras

_BLOCK = re.compile(r"^conv(\d+)_block(\d+)_(out|preact_relu)$")


def _strides(layer: keras.layers.Layer) -> int:
    strides = getattr(layer, "strides", 1)
    return max(strides) if isinstance(strides, (tuple, list)) else int(strides)


def stage_feature_names(model: keras.Model) -> dict[str, str]:
    """Layer name of each stage's feature map, keyed ``"C2"``, ``"C3"`` ...

    Post-activation nets: each stage's last ``_out``. keras.applications'
    ResNetV2 layout downsamples inside a stage's *last* block, so there the
    feature at the stage's own stride is the pre-activation of that last
    block (and ``post_relu`` for the last stage); other pre-activation nets
    take the next stage's first pre-activation (``post_relu`` for the last).
    The layout is read from conv2's last block: it strides only in that layout.
    """
    last_block: dict[int, int] = {}
    layers = {layer.name: layer for layer in model.layers}
    for name in layers:
        m = _BLOCK.match(name)
        if m:
            stage, block = int(m.group(1)), int(m.group(2))
            last_block[stage] = max(last_block.get(stage, 0), block)
    if not last_block:
        raise ValueError(f"`model` {model.name!r} is not a keras_resnet network (no conv*_block* layers)")
    preact = any(n.endswith("_preact_relu") for n in layers)
    stages = sorted(last_block)
    first_last = f"conv{stages[0]}_block{last_block[stages[0]]}_"
    stride_at_last = any(_strides(layer) > 1 for n, layer in layers.items() if n.startswith(first_last))
    out: dict[str, str] = {}
    for stage in stages:
        last = f"conv{stage}_block{last_block[stage]}"
        if not preact:
            out[f"C{stage}"] = f"{last}_out"
        elif stage == stages[-1]:
            out[f"C{stage}"] = "post_relu"
        elif stride_at_last:
            out[f"C{stage}"] = f"{last}_preact_relu"
        else:
            out[f"C{stage}"] = f"conv{stage + 1}_block1_preact_relu"
    return out


def _stage_outputs(model: keras.Model) -> dict[str, Any]:
    recorded = getattr(model, "pyramid_outputs", None)
    if recorded:
        return dict(recorded)
    return {stage: model.get_layer(name).output for stage, name in stage_feature_names(model).items()}


def backbone(model: keras.Model, stages: tuple[str, ...] | None = None) -> keras.Model:
    """A multi-output model of the stage feature maps of a keras_resnet net.

    Args:
        model: A network from this package, usually with ``include_top=False``.
        stages: Subset of ``("C2", "C3", "C4", "C5")`` (``C2``-``C4`` for
            CIFAR nets); all by default.

    Returns:
        A ``keras.Model`` from the net's input to a dict ``{"C2": ..., ...}``:
        strides 4/8/16/32 for ImageNet nets (less with ``output_stride``),
        1/2/4 for CIFAR nets, at any input size.
    """
    features = _stage_outputs(model)
    wanted = tuple(features) if stages is None else tuple(stages)
    unknown = [s for s in wanted if s not in features]
    if unknown:
        raise ValueError(f"`stages` must be a subset of {tuple(features)}; received stages={stages!r}")
    return keras.Model(model.input, {s: features[s] for s in wanted}, name=f"{model.name}_backbone")
