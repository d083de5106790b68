"""Backbone features: the stage outputs (C2-C5) for detection and segmentation heads.

As used in Faster R-CNN / FPN with ResNet-101 (paper §4.3 and Appendix A).
"""

from __future__ import annotations

import re

import keras

_BLOCK = re.compile(r"^conv(\d+)_block(\d+)_(out|preact_relu)$")


def stage_feature_names(model: keras.Model) -> dict[str, str]:
    """Layer name of each stage's feature map, keyed ``"C2"``, ``"C3"`` ...

    Post-activation nets: each stage's last ``_out``. keras.applications'
    ResNetV2 layout downsamples inside a stage's *last* block, so there the
    feature at the stage's own stride is the pre-activation of that last
    block (and ``post_relu`` for the last stage); other pre-activation nets
    take the next stage's first pre-activation (``post_relu`` for the last).
    """
    last_block: dict[int, int] = {}
    names = {layer.name for layer in model.layers}
    for name in names:
        m = _BLOCK.match(name)
        if m:
            stage, block = int(m.group(1)), int(m.group(2))
            last_block[stage] = max(last_block.get(stage, 0), block)
    if not last_block:
        raise ValueError(f"`model` {model.name!r} is not a keras_resnet network (no conv*_block* layers)")
    preact = any(n.endswith("_preact_relu") for n in names)
    stages = sorted(last_block)
    out: dict[str, str] = {}
    for stage in stages:
        last = f"conv{stage}_block{last_block[stage]}"
        if not preact:
            out[f"C{stage}"] = f"{last}_out"
        elif stage == stages[-1]:
            out[f"C{stage}"] = "post_relu"
        elif _strides_in_last_block(model, last):
            out[f"C{stage}"] = f"{last}_preact_relu"
        else:
            out[f"C{stage}"] = f"conv{stage + 1}_block1_preact_relu"
    return out


def _strides_in_last_block(model: keras.Model, block: str) -> bool:
    inp = model.get_layer(f"{block}_preact_relu").output.shape
    out = model.get_layer(f"{block}_out" if _has(model, f"{block}_out") else f"{block}_3_conv").output.shape
    return inp[1] is not None and out[1] is not None and out[1] < inp[1]


def _has(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def backbone(model: keras.Model, stages: tuple[str, ...] | None = None) -> keras.Model:
    """A multi-output model of the stage feature maps of a keras_resnet net.

    Args:
        model: A network from this package, usually with ``include_top=False``.
        stages: Subset of ``("C2", "C3", "C4", "C5")`` (``C2``-``C4`` for
            CIFAR nets); all by default.

    Returns:
        A ``keras.Model`` from the net's input to a dict ``{"C2": ..., ...}``.
    """
    names = stage_feature_names(model)
    wanted = tuple(names) if stages is None else tuple(stages)
    unknown = [s for s in wanted if s not in names]
    if unknown:
        raise ValueError(f"`stages` must be a subset of {tuple(names)}; received {stages!r}")
    outputs = {s: model.get_layer(names[s]).output for s in wanted}
    return keras.Model(model.inputs, outputs, name=f"{model.name}_backbone")
