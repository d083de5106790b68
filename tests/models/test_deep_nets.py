"""The 1202- and 1001-layer CIFAR nets (CVPR 2016 §4.2, ECCV 2016 §4): depth, counts, a forward pass.

They live in their own file so that the module-scoped fixture holding them is released when the file ends:
kept alive longer (as a cached function did), their hundreds of thousands of Python objects made every later
test's ``clear_session`` garbage collection walk them.
"""

import keras
import numpy as np
import pytest
from keras import ops

import keras_resnet as kr
from keras_resnet.analysis import count_trainable_params, count_weighted_layers
from keras_resnet.specs import SPECS

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def deep_nets() -> dict[str, keras.Model]:
    """Both nets at 8x8, built once for this file (their builds are its whole cost)."""
    return {name: kr.get_model(name, input_shape=(8, 8, 3)) for name in ("resnet1202", "preact_resnet1001")}


def test_resnet1202_params_and_depth(deep_nets: dict[str, keras.Model]) -> None:
    model = deep_nets["resnet1202"]
    assert count_trainable_params(model) == 19_421_274
    assert count_weighted_layers(model) == 1202


@pytest.mark.parametrize("name", ["resnet1202", "preact_resnet1001"])
def test_deep_nets_build_and_run(deep_nets: dict[str, keras.Model], name: str) -> None:
    model = deep_nets[name]
    assert count_weighted_layers(model) == SPECS[name].depth
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    # Freshly initialised BN statistics do not normalise in inference mode, so
    # hundreds of un-normalised additions overflow; in training mode they don't.
    assert np.isfinite(ops.convert_to_numpy(model(x, training=True))).all()
