"""Builders: paper counts to the unit, structure, shortcut options, serialization, errors."""

import numpy as np
import pytest
from keras import layers, ops

import keras_resnet as kr
from keras_resnet.analysis import count_macs, count_trainable_params, count_weighted_layers
from keras_resnet.specs import SPECS, ResNetSpec, cifar_spec

pytestmark = [pytest.mark.backend]

# Paper Table 6 (CIFAR, option A): trainable parameters.
CIFAR_PARAMS = {
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
}


@pytest.mark.parametrize("name,expected", CIFAR_PARAMS.items())
def test_cifar_trainable_params_match_paper(name, expected):
    model = kr.get_model(name)
    assert count_trainable_params(model) == expected
    assert count_weighted_layers(model) == SPECS[name].depth == int(name[6:])


def test_imagenet_param_counts():
    # keras.applications (ResNet50) and torchvision/paper (ResNet-18/34, no conv bias).
    assert kr.ResNet50().count_params() == 25_636_712
    assert count_trainable_params(kr.ResNet18()) == 11_689_512
    assert count_trainable_params(kr.ResNet34()) == 21_797_672


# Paper Table 1 FLOPs (multiply-adds) at 224x224, and CIFAR ResNet-20 at 32x32.
MACS = {"resnet18": 1.81e9, "resnet34": 3.66e9, "resnet50": 3.86e9, "resnet101": 7.57e9,
        "resnet152": 11.28e9, "resnet20": 40.6e6}


@pytest.mark.parametrize("name,expected", MACS.items())
def test_macs_within_one_percent(name, expected):
    macs = count_macs(kr.get_model(name))
    assert abs(macs - expected) / expected < 0.01, macs


def test_count_macs_needs_fixed_size():
    with pytest.raises(ValueError, match="fixed input size"):
        count_macs(kr.ResNet20(include_top=False))


# The v1.5 / D rows of the deepest ImageNet nets share every code path with ResNet-50's and
# with ResNet-101/152 v1; test_formats_features builds ResNet-101/152 v1.5 for their counts.
_EVERY = [n for n, s in SPECS.items() if s.depth <= 200 and not (s.variant != "v1" and s.depth > 50)]


@pytest.mark.parametrize("name", _EVERY)
def test_every_builder_builds_and_runs(name):
    spec = SPECS[name]
    size = spec.total_stride * 2
    model = kr.get_model(name, input_shape=(size, size, 3), classes=7)
    out = model(np.random.default_rng(0).normal(size=(2, size, size, 3)).astype("float32"))
    assert out.shape == (2, 7)
    np.testing.assert_allclose(ops.convert_to_numpy(out).sum(axis=1), 1.0, rtol=1e-5)


def test_preact_cifar_bottleneck_params():
    # ECCV 2016 Table 2 reports 1.7M for ResNet-164.
    assert count_trainable_params(kr.PreActResNet164()) == 1_703_258


def _kinds(model):
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("name", ["resnet20", "resnet18", "resnet50", "resnet50v2", "preact_resnet164"])
def test_plain_twin_has_same_convs_and_no_add(name):
    residual = kr.get_model(name, shortcut="A")
    plain = kr.get_model(name, plain=True)
    main_path = [layer.name for layer in residual.layers
                 if isinstance(layer, layers.Conv2D) and not layer.name.endswith("_0_conv")]
    assert [layer.name for layer in plain.layers if isinstance(layer, layers.Conv2D)] == main_path
    assert "Add" in _kinds(residual) and "Add" not in _kinds(plain)
    assert "ZeroPadShortcut" not in _kinds(plain)
    assert count_weighted_layers(plain) == count_weighted_layers(residual)
    assert plain.name == f"plain_{name}"


def test_shortcut_options_parameter_differences():
    """Option A adds nothing; B projects where the width changes; C on every block (§3.3)."""
    a, b, c = (count_trainable_params(kr.ResNet20(shortcut=s)) for s in "ABC")
    assert a == 269_722
    # B: 1x1 projections 16->32 and 32->64, each with BN gamma/beta.
    assert b - a == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    # C: a projection on all 9 blocks: 3 at 16->16 .. and the two changing ones.
    per_stage = [(16, 16)] * 3 + [(16, 32)] + [(32, 32)] * 2 + [(32, 64)] + [(64, 64)] * 2
    assert c - a == sum(ci * co + 2 * co for ci, co in per_stage)
    assert "ZeroPadShortcut" in _kinds(kr.ResNet20(shortcut="A"))


def test_option_a_zero_pads_and_subsamples():
    x = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    y = ops.convert_to_numpy(kr.ZeroPadShortcut(5, 2)(x))
    np.testing.assert_array_equal(y[..., :3], x[:, ::2, ::2, :])
    np.testing.assert_array_equal(y[..., 3:], 0)


@pytest.mark.parametrize("name", ["resnet20", "resnet50", "resnet50v2"])
def test_zero_init_residual_makes_blocks_identity(name):
    model = kr.get_model(name, zero_init_residual=True, input_shape=(64, 64, 3), include_top=False)
    last = [layer for layer in model.layers if layer.name.endswith(("_2_bn" if name == "resnet20" else "_3_bn",
                                                                     "_3_conv" if name.endswith("v2") else "_3_bn"))]
    assert last
    for layer in last:
        assert not np.any(layer.get_weights()[0]), layer.name
    default = kr.get_model(name, input_shape=(64, 64, 3), include_top=False)
    assert np.all(default.get_layer(last[0].name).get_weights()[0] != 0)


def test_stage_layout_and_names():
    model = kr.ResNet50()
    names = {layer.name for layer in model.layers}
    for expected in ["conv1_pad", "conv1_conv", "conv1_bn", "pool1_pool", "conv2_block1_0_conv",
                     "conv2_block1_1_conv", "conv2_block3_add", "conv5_block3_out", "avg_pool", "predictions"]:
        assert expected in names
    v2 = {layer.name for layer in kr.ResNet50V2().layers}
    for expected in ["conv2_block1_preact_bn", "conv2_block3_2_pad", "conv4_block6_out", "post_bn", "post_relu"]:
        assert expected in v2


def test_pooling_and_input_tensor():
    assert kr.ResNet20(include_top=False, pooling="avg").output.shape == (None, 64)
    assert kr.ResNet20(include_top=False, pooling="max").output.shape == (None, 64)
    assert kr.ResNet20(include_top=False).output.shape == (None, None, None, 64)
    tensor = layers.Input((40, 40, 3))
    model = kr.ResNet20(input_tensor=tensor, classes=3, classifier_activation=None)
    assert model.inputs[0] is tensor and model.output.shape == (None, 3)


def test_width_multiplier_and_generic_depths():
    model = kr.CifarResNet(8, width_multiplier=0.5)
    assert count_weighted_layers(model) == 8
    assert model.get_layer("conv4_block1_2_conv").filters == 32
    assert count_weighted_layers(kr.get_model("resnet62")) == 62
    assert kr.get_model("resnet20", width_multiplier=2).get_layer("conv1_conv").filters == 32


def test_spec_round_trip():
    for spec in list(SPECS.values()) + [cifar_spec(26, width_multiplier=0.5)]:
        assert ResNetSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("kwargs", [
    {"name": "resnet20"},
    {"name": "resnet20", "plain": True},
    {"name": "resnet20", "shortcut": "C", "zero_init_residual": True},
    # PreActResNet164's spec (pre-activation CIFAR bottleneck blocks, B shortcuts) at 3 blocks a stage, not 18:
    # the same layers and config keys, a sixth of the layers to serialize.
    {"depth": 29, "block": "bottleneck", "preact": True, "input_shape": (16, 16, 3)},
    {"name": "resnet18v2", "input_shape": (64, 64, 3)},
])
def test_serialization_round_trips(kwargs, tmp_path):
    import keras

    model = kr.get_model(kwargs.pop("name"), **kwargs) if "name" in kwargs else kr.CifarResNet(**kwargs)
    x = np.random.default_rng(1).normal(size=(2, *model.input_shape[1:])).astype("float32")
    ref = ops.convert_to_numpy(model(x))
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(clone(x)), ref, atol=1e-6)
    assert clone.get_config() == model.get_config()
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), ref, atol=1e-6)


@pytest.mark.parametrize("name,shape,strides", [
    ("resnet50", (64, 64, 3), {"C2": 4, "C3": 8, "C4": 16, "C5": 32}),
    ("resnet18", (64, 64, 3), {"C2": 4, "C3": 8, "C4": 16, "C5": 32}),
    ("resnet50v2", (64, 64, 3), {"C2": 4, "C3": 8, "C4": 16, "C5": 32}),
    ("resnet20", (32, 32, 3), {"C2": 1, "C3": 2, "C4": 4}),
    ("preact_resnet110", (32, 32, 3), {"C2": 1, "C3": 2, "C4": 4}),
])
def test_backbone_stage_features(name, shape, strides):
    model = kr.get_model(name, include_top=False, input_shape=shape)
    features = kr.backbone(model)
    outputs = features(np.zeros((1, *shape), "float32"))
    assert sorted(outputs) == sorted(strides)
    for key, stride in strides.items():
        assert outputs[key].shape[1] == shape[0] // stride, key
    only = kr.backbone(model, stages=("C3",))
    assert list(only.output) == ["C3"]
    with pytest.raises(ValueError, match="`stages`"):
        kr.backbone(model, stages=("C9",))


@pytest.mark.parametrize("call,match", [
    (lambda: kr.CifarResNet(21), r"`depth`.*6n\+2"),
    (lambda: kr.CifarResNet(26, block="bottleneck"), r"9n\+2"),
    (lambda: kr.CifarResNet(20, block="wide"), "`block`"),
    (lambda: kr.CifarResNet(20, width_multiplier=0), "`width_multiplier`"),
    (lambda: kr.ResNet20(shortcut="D"), "`shortcut` must be one of"),
    (lambda: kr.ResNet20(pooling="sum", include_top=False), "`pooling`"),
    (lambda: kr.ResNet20(classes=0), "`classes`"),
    (lambda: kr.ResNet50(weights="imagenet", classes=10), "classes=1000"),
    (lambda: kr.ResNet50(weights="imagenet", input_shape=(128, 128, 3)), r"\(224, 224, 3\)"),
    (lambda: kr.ResNet50(weights="imagenet", include_top=False, input_shape=(128, 128, 1)), "3 input channels"),
    (lambda: kr.ResNet18(weights="imagenet"), "No official ImageNet weights.*resnet50"),
    (lambda: kr.ResNet50(weights="imagenet", plain=True), "No official ImageNet weights exist for a plain net"),
    (lambda: kr.ResNet50(weights="imagenet", shortcut="C"), "No official ImageNet weights"),
    (lambda: kr.ResNet20(weights=3), "`weights` must be None"),
    (lambda: kr.ResNet50(input_shape=(16, 16, 3)), "too small.*at least 32"),
    (lambda: kr.ResNet20(input_shape=(2, 2, 3)), "too small.*at least 4"),
    (lambda: kr.ResNet20(input_shape=(32, 32)), "`input_shape`"),
    (lambda: kr.ResNet20(input_tensor=layers.Input((32, 32, 1)), input_shape=(32, 32, 3)), "`input_tensor`"),
    (lambda: kr.get_model("vgg16"), "`name` must be one of"),
    (lambda: kr.get_model("resnet21"), r"6n\+2"),
])
def test_bad_input_gives_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
