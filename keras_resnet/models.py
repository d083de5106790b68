"""Named builders (``ResNet50``, ``ResNet20``, ``PreActResNet1001`` ...) and a registry.

Every named builder is the one factory :func:`keras_resnet.builder.build_resnet`
bound to one row of :data:`keras_resnet.specs.SPECS`. Its signature, argument
check and docstring come from :mod:`keras_resnet.signatures`: keras.applications'
arguments (``include_top, weights, input_tensor, input_shape, pooling, classes,
classifier_activation, name``), then the factory's keywords (``plain=True`` gives
the plain twin, ``shortcut``, ``output_stride`` ...); ImageNet builders also
take ``variant="v1" | "v1.5" | "d"``. ``models.pyi`` beside this file spells the
same signatures out for static analysers (``python -m keras_resnet.stubs``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import keras

from keras_resnet import signatures
from keras_resnet.builder import build_resnet
from keras_resnet.specs import SPECS, cifar_spec, resolve_spec, variant_name


def _named(spec_name: str) -> Callable[..., keras.Model]:
    """The builder of the table row ``spec_name`` (its ``variant`` picks the variant's row)."""
    spec = SPECS[spec_name]

    def builder(*args: Any, **kwargs: Any) -> keras.Model:
        arguments = signatures.bind(builder, args, kwargs)
        variant = arguments.pop("variant", None)
        return build_resnet(SPECS[variant_name(spec_name, variant)] if variant else spec, **arguments)

    builder.__name__ = builder.__qualname__ = signatures.builder_name(spec_name)
    builder.__signature__ = signatures.builder_signature(spec)
    builder.__doc__ = signatures.builder_doc(spec)
    builder.spec = spec
    return builder


# ImageNet (Table 1; ECCV 2016 for V2), in the torchvision / keras.applications names.
ResNet18 = _named("resnet18")
ResNet34 = _named("resnet34")
ResNet50 = _named("resnet50")
ResNet101 = _named("resnet101")
ResNet152 = _named("resnet152")
ResNet18V2 = _named("resnet18v2")
ResNet34V2 = _named("resnet34v2")
ResNet50V2 = _named("resnet50v2")
ResNet101V2 = _named("resnet101v2")
ResNet152V2 = _named("resnet152v2")
# CIFAR (§4.2, Table 6) and the pre-activation CIFAR nets (ECCV 2016).
ResNet20 = _named("resnet20")
ResNet32 = _named("resnet32")
ResNet44 = _named("resnet44")
ResNet56 = _named("resnet56")
ResNet110 = _named("resnet110")
ResNet1202 = _named("resnet1202")
PreActResNet110 = _named("preact_resnet110")
PreActResNet164 = _named("preact_resnet164")
PreActResNet1001 = _named("preact_resnet1001")

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


def CifarResNet(*args: Any, **kwargs: Any) -> keras.Model:  # signature and docstring: below
    arguments = signatures.bind(CifarResNet, args, kwargs)
    spec = cifar_spec(**{key: arguments.pop(key) for key in ("depth", "block", "preact", "width_multiplier")})
    return build_resnet(spec, **arguments)


CifarResNet.__signature__ = signatures.cifar_signature()
CifarResNet.__doc__ = signatures.cifar_doc()


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
    return CifarResNet(depth=spec.depth, block=spec.block, preact=spec.preact, width_multiplier=spec.width_multiplier,
                       **kwargs)
