"""Named builders (``ResNet50``, ``ResNet20``, ``PreActResNet1001`` ...) and a registry.

Every named builder is the one factory :func:`keras_resnet.builder.build_resnet`
bound to one row of :data:`keras_resnet.specs.SPECS`; ``plain=True`` gives its
plain twin.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import keras

from keras_resnet.builder import build_resnet
from keras_resnet.specs import SPECS, BlockKind, cifar_spec

SOURCES = {
    "imagenet": "He et al. 2016 (CVPR), Table 1",
    "imagenet_v2": "He et al. 2016 (ECCV), pre-activation; keras.applications ResNetV2 layout",
    "cifar": "He et al. 2016 (CVPR), §4.2 and Table 6",
    "cifar_v2": "He et al. 2016 (ECCV), Table 2 / §4.1 (CIFAR pre-activation)",
}


def _function_name(spec_name: str) -> str:
    if spec_name.startswith("preact_resnet"):
        return "PreActResNet" + spec_name[len("preact_resnet"):]
    return "ResNet" + spec_name[len("resnet"):].upper()


def _named(spec_name: str) -> Callable[..., keras.Model]:
    spec = SPECS[spec_name]
    source = SOURCES[spec.stem + ("_v2" if spec.preact else "")]

    default_classes = 1000 if spec.stem == "imagenet" else 10

    def builder(include_top: bool = True, weights: str | None = None, input_tensor: Any = None,
                input_shape: tuple | None = None, pooling: str | None = None, classes: int = default_classes,
                classifier_activation: Any = "softmax", name: str | None = None,
                **kwargs: Any) -> keras.Model:
        return build_resnet(spec, include_top, weights, input_tensor, input_shape, pooling,
                            classes, classifier_activation, name, **kwargs)

    builder.__name__ = builder.__qualname__ = _function_name(spec_name)
    builder.__doc__ = (
        f"Instantiate {spec.name} ({spec.depth} layers, {spec.block} blocks {spec.blocks}, "
        f"{'pre-activation' if spec.preact else 'post-activation'}; {source}).\n\n"
        "Arguments are keras.applications' plus `plain`, `shortcut`, "
        "`zero_init_residual` and `kernel_initializer`; see "
        "`keras_resnet.builder.build_resnet`."
    )
    builder.spec = spec
    return builder


#: Every named builder, by the spec name it builds (``"resnet50"`` -> ``ResNet50``).
BUILDERS: dict[str, Callable[..., keras.Model]] = {n: _named(n) for n in SPECS}
globals().update({b.__name__: b for b in BUILDERS.values()})


def CifarResNet(
    depth: int,
    block: BlockKind = "basic",
    preact: bool = False,
    width_multiplier: float = 1.0,
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: Any = "softmax",
    name: str | None = None,
    **kwargs: Any,
) -> keras.Model:
    """Any CIFAR ResNet (§4.2): ``depth = 6n+2`` (basic) or ``9n+2`` (bottleneck).

    ``width_multiplier`` scales the 16/32/64 stage widths. Other arguments as
    :func:`keras_resnet.builder.build_resnet`.
    """
    spec = cifar_spec(depth, block, preact, width_multiplier)
    return build_resnet(spec, include_top, weights, input_tensor, input_shape, pooling,
                        classes, classifier_activation, name, **kwargs)


_GENERIC = re.compile(r"^(preact_)?resnet(\d+)$")


def get_model(name: str, **kwargs: Any) -> keras.Model:
    """Build a network by name: any key of :data:`BUILDERS`, or ``resnet<6n+2>`` /
    ``preact_resnet<6n+2 or 9n+2>`` for other CIFAR depths.

    Keyword arguments go to the builder (``plain=True`` for the plain twin,
    ``shortcut=``, ``width_multiplier=`` for CIFAR nets, ...).
    """
    spec = SPECS.get(name)
    if spec is not None and (spec.stem == "imagenet" or "width_multiplier" not in kwargs):
        return BUILDERS[name](**kwargs)
    match = _GENERIC.match(name or "")
    if spec is not None or match:
        depth = int(match.group(2))
        preact = bool(match.group(1))
        block = spec.block if spec else ("bottleneck" if preact and depth > 110 and (depth - 2) % 9 == 0 else "basic")
        kwargs.setdefault("classes", 10)
        return CifarResNet(depth, block, preact, **kwargs)
    raise ValueError(
        f"`name` must be one of {sorted(BUILDERS)} or resnet<6n+2> / preact_resnet<depth> "
        f"for a CIFAR depth; received name={name!r}"
    )
