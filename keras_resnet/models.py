"""Named builders (``def ResNet50``, ``def ResNet20``, ``def PreActResNet1001`` ...) and a registry.

Every named builder is the one factory :func:`keras_resnet.builder.build_resnet`
bound to one row of :data:`keras_resnet.specs.SPECS`; its arguments are
keras.applications' (``include_top, weights, input_tensor, input_shape,
pooling, classes, classifier_activation, name``), then the factory's keywords
(``plain=True`` gives the plain twin, ``shortcut``, ``output_stride`` ...).
ImageNet builders also take ``variant="v1" | "v1.5" | "d"``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import keras

from keras_resnet.builder import build_resnet
from keras_resnet.specs import SPECS, BlockKind, ResNetSpec, cifar_spec, resolve_spec, variant_name

SOURCES = {
    "imagenet": "He et al. 2016 (CVPR), Table 1",
    "imagenet_v2": "He et al. 2016 (ECCV), pre-activation; keras.applications ResNetV2 layout",
    "cifar": "He et al. 2016 (CVPR), §4.2 and Table 6",
    "cifar_v2": "He et al. 2016 (ECCV), Table 2 / §4.1 (CIFAR pre-activation)",
}
_VARIANTS_DOC = ("`variant`: 'v1' (this layout), 'v1.5' (stride in the 3x3, no conv biases: "
                 "torchvision/timm) or 'd' (ResNet-D, He et al. 2019).")


def _build(spec: ResNetSpec, args: tuple, kwargs: dict[str, Any]) -> keras.Model:
    if len(args) < 7:  # `classes` not given positionally: the family's default
        kwargs.setdefault("classes", 1000 if spec.stem == "imagenet" else 10)
    return build_resnet(spec, *args, **kwargs)


def _imagenet(base: str, args: tuple, kwargs: dict[str, Any], variant: str) -> keras.Model:
    return _build(SPECS[variant_name(base, variant)], args, kwargs)


def _documented(name: str) -> Callable[[Callable[..., keras.Model]], Callable[..., keras.Model]]:
    """Attach the spec row ``name`` and a docstring made from it."""
    spec = SPECS[name]

    def attach(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        source = SOURCES[spec.stem + ("_v2" if spec.preact else "")]
        builder.__doc__ = (
            f"Instantiate {spec.name} ({spec.depth} layers, {spec.block} blocks {spec.blocks}, "
            f"{'pre-activation' if spec.preact else 'post-activation'}; {source}).\n\n"
            "Arguments are keras.applications' plus `plain`, `shortcut`, `zero_init_residual`, "
            "`kernel_initializer` and `output_stride`; see `keras_resnet.builder.build_resnet`."
            + (f"\n{_VARIANTS_DOC}" if spec.stem == "imagenet" else "")
        )
        builder.spec = spec
        return builder

    return attach


# ImageNet (Table 1; ECCV 2016 for V2), in the torchvision / keras.applications names.
@_documented("resnet18")
def ResNet18(*args: Any, variant: str = "v1", **kwargs: Any) -> keras.Model:
    return _imagenet("resnet18", args, kwargs, variant)


@_documented("resnet34")
def ResNet34(*args: Any, variant: str = "v1", **kwargs: Any) -> keras.Model:
    return _imagenet("resnet34", args, kwargs, variant)


@_documented("resnet50")
def ResNet50(*args: Any, variant: str = "v1", **kwargs: Any) -> keras.Model:
    return _imagenet("resnet50", args, kwargs, variant)


@_documented("resnet101")
def ResNet101(*args: Any, variant: str = "v1", **kwargs: Any) -> keras.Model:
    return _imagenet("resnet101", args, kwargs, variant)


@_documented("resnet152")
def ResNet152(*args: Any, variant: str = "v1", **kwargs: Any) -> keras.Model:
    return _imagenet("resnet152", args, kwargs, variant)


@_documented("resnet18v2")
def ResNet18V2(*args: Any, variant: str = "v1", **kwargs: Any) -> keras.Model:
    return _imagenet("resnet18v2", args, kwargs, variant)


@_documented("resnet34v2")
def ResNet34V2(*args: Any, variant: str = "v1", **kwargs: Any) -> keras.Model:
    return _imagenet("resnet34v2", args, kwargs, variant)


@_documented("resnet50v2")
def ResNet50V2(*args: Any, variant: str = "v1", **kwargs: Any) -> keras.Model:
    return _imagenet("resnet50v2", args, kwargs, variant)


@_documented("resnet101v2")
def ResNet101V2(*args: Any, variant: str = "v1", **kwargs: Any) -> keras.Model:
    return _imagenet("resnet101v2", args, kwargs, variant)


@_documented("resnet152v2")
def ResNet152V2(*args: Any, variant: str = "v1", **kwargs: Any) -> keras.Model:
    return _imagenet("resnet152v2", args, kwargs, variant)


# CIFAR (§4.2, Table 6) and the pre-activation CIFAR nets (ECCV 2016).
@_documented("resnet20")
def ResNet20(*args: Any, **kwargs: Any) -> keras.Model:
    return _build(SPECS["resnet20"], args, kwargs)


@_documented("resnet32")
def ResNet32(*args: Any, **kwargs: Any) -> keras.Model:
    return _build(SPECS["resnet32"], args, kwargs)


@_documented("resnet44")
def ResNet44(*args: Any, **kwargs: Any) -> keras.Model:
    return _build(SPECS["resnet44"], args, kwargs)


@_documented("resnet56")
def ResNet56(*args: Any, **kwargs: Any) -> keras.Model:
    return _build(SPECS["resnet56"], args, kwargs)


@_documented("resnet110")
def ResNet110(*args: Any, **kwargs: Any) -> keras.Model:
    return _build(SPECS["resnet110"], args, kwargs)


@_documented("resnet1202")
def ResNet1202(*args: Any, **kwargs: Any) -> keras.Model:
    return _build(SPECS["resnet1202"], args, kwargs)


@_documented("preact_resnet110")
def PreActResNet110(*args: Any, **kwargs: Any) -> keras.Model:
    return _build(SPECS["preact_resnet110"], args, kwargs)


@_documented("preact_resnet164")
def PreActResNet164(*args: Any, **kwargs: Any) -> keras.Model:
    return _build(SPECS["preact_resnet164"], args, kwargs)


@_documented("preact_resnet1001")
def PreActResNet1001(*args: Any, **kwargs: Any) -> keras.Model:
    return _build(SPECS["preact_resnet1001"], args, kwargs)


_NAMED = (ResNet18, ResNet34, ResNet50, ResNet101, ResNet152, ResNet18V2, ResNet34V2, ResNet50V2,
          ResNet101V2, ResNet152V2, ResNet20, ResNet32, ResNet44, ResNet56, ResNet110, ResNet1202,
          PreActResNet110, PreActResNet164, PreActResNet1001)


def _registry() -> dict[str, Callable[..., keras.Model]]:
    out: dict[str, Callable[..., keras.Model]] = {}
    for builder in _NAMED:
        out[builder.spec.name] = builder
        if builder.spec.stem == "imagenet":
            for variant in ("v1.5", "d"):
                out[variant_name(builder.spec.name, variant)] = functools.partial(builder, variant=variant)
    return out


#: A builder for every row of :data:`SPECS` (``"resnet50d"`` -> ``ResNet50`` with ``variant="d"``).
BUILDERS: dict[str, Callable[..., keras.Model]] = _registry()


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


def get_model(name: str, **kwargs: Any) -> keras.Model:
    """Build a network by name, as :func:`keras_resnet.specs.resolve_spec` resolves it: any key of
    :data:`BUILDERS` (variants included, e.g. ``"resnet50_v1.5"``, ``"resnet50d"``), or
    ``resnet<6n+2>`` / ``preact_resnet<6n+2 or 9n+2>`` for other CIFAR depths.

    Keyword arguments go to the builder (``plain=True`` for the plain twin,
    ``shortcut=``, ``variant=`` for ImageNet nets, ``width_multiplier=`` for
    CIFAR nets, ...).
    """
    spec = resolve_spec(name, kwargs.pop("width_multiplier", 1.0), kwargs.pop("variant", None), argument="name")
    if SPECS.get(spec.name) == spec:
        return BUILDERS[spec.name](**kwargs)
    kwargs.setdefault("classes", 10)
    return build_resnet(spec, **kwargs)
