"""keras_resnet.specs.resolve_spec: one way from a net's name to its spec."""

from __future__ import annotations

import dataclasses
import re

import pytest

import keras_resnet as kr
from keras_resnet.specs import SPECS, cifar_spec, resolve_spec


def test_every_table_row_resolves_to_itself() -> None:
    for name, spec in SPECS.items():
        assert resolve_spec(name) is spec


def test_generic_cifar_depths_and_widths() -> None:
    assert resolve_spec("resnet14") == cifar_spec(14)
    assert resolve_spec("resnet8", 0.25) == cifar_spec(8, width_multiplier=0.25)
    assert resolve_spec("resnet56", 0.5) == dataclasses.replace(SPECS["resnet56"], width_multiplier=0.5)
    assert resolve_spec("preact_resnet8").block == "basic"
    deep = resolve_spec("preact_resnet272")  # 9n+2 over 110: bottlenecks, as ECCV's 164 and 1001
    assert (deep.block, deep.preact, deep.depth, deep.default_size) == ("bottleneck", True, 272, 32)
    assert resolve_spec("resnet50").default_size == 224
    assert resolve_spec("resnet50", variant="v1") is SPECS["resnet50"]
    assert resolve_spec("resnet50", variant="v1.5") is SPECS["resnet50_v1.5"]
    assert resolve_spec("resnet101", variant="d") is SPECS["resnet101d"] is resolve_spec("resnet101d")


@pytest.mark.parametrize("name, kwargs", [("resnet14", {}), ("resnet8", {"width_multiplier": 0.25}),
                                          ("preact_resnet20", {})])
def test_the_spec_is_the_net_get_model_builds(name: str, kwargs: dict) -> None:
    built = kr.get_model(name, **kwargs)
    assert built.count_params() == kr.build_resnet(resolve_spec(name, **kwargs), classes=10).count_params()


@pytest.mark.parametrize("args, message", [
    (("vgg16",), "`model` must be one of"),
    (("",), "`model` must be a model name"),
    (("resnet21",), "`depth` of a CIFAR ResNet with basic blocks must be 6n+2"),
    (("resnet50", 0.5), "`width_multiplier` scales CIFAR nets only"),
    (("resnet50", 1.0, "z"), "`variant` must be one of ('v1', 'v1.5', 'd'); received variant='z'"),
    (("resnet20", 1.0, "d"), "`variant` applies to the ImageNet nets of the table; received variant='d'"),
])
def test_unknown_nets_are_refused_naming_the_argument(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve_spec(*args)
