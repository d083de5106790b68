"""Data formats, variants, stage outputs at any size, output_stride, portable files."""

import json
import zipfile

import keras
import numpy as np
import pytest

import keras_resnet as kr
from keras_resnet.analysis import count_macs, count_trainable_params

pytestmark = [pytest.mark.backend]


@pytest.fixture
def channels_first():
    with kr.image_data_format("channels_first"):
        yield


@pytest.mark.onednn
def test_image_data_format_restores_the_previous_one_and_checks_its_argument():
    assert keras.config.image_data_format() == "channels_last"
    with pytest.raises(RuntimeError, match="inside"), kr.image_data_format("channels_first"):
        assert kr.ResNet20().input_shape == (None, 3, 32, 32)
        raise RuntimeError("inside the block")
    assert keras.config.image_data_format() == "channels_last"
    message = r"`data_format` must be one of \('channels_last', 'channels_first'\), got 'NCHW'"
    with pytest.raises(ValueError, match=message), kr.image_data_format("NCHW"):
        pass


# torchvision's parameter counts (its docs' "num_params") and timm's resnet50d.
VARIANT_PARAMS = {("resnet50", "v1.5"): 25_557_032, ("resnet101", "v1.5"): 44_549_160,
                  ("resnet152", "v1.5"): 60_192_808, ("resnet50", "d"): 25_576_264,
                  ("resnet18", "v1.5"): 11_689_512, ("resnet34", "v1.5"): 21_797_672}


# torchvision's docs: GFLOPS (multiply-adds) at 224x224, two decimals.
TORCHVISION_GMACS = {"resnet18": 1.81, "resnet34": 3.66, "resnet50": 4.09, "resnet101": 7.80, "resnet152": 11.51}


@pytest.mark.parametrize("name,variant", VARIANT_PARAMS)
def test_variant_params_match_torchvision_and_timm(name, variant):
    model = kr.get_model(name, variant=variant)
    assert count_trainable_params(model) == VARIANT_PARAMS[name, variant]
    assert model.name == kr.specs.variant_name(name, variant)
    if variant == "v1.5":
        assert round(count_macs(model) / 1e9, 2) == TORCHVISION_GMACS[name]


def test_variant_layouts():
    v15, d = kr.ResNet50(variant="v1.5"), kr.ResNet50(variant="d")
    assert v15.get_layer("conv3_block1_2_conv").strides == (2, 2)
    assert v15.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert not any(getattr(layer, "use_bias", False) for layer in v15.layers if "conv" in layer.name)
    assert [d.get_layer(f"conv1_{i}_conv").filters for i in (1, 2, 3)] == [32, 32, 64]
    assert d.get_layer("conv3_block1_0_pool").pool_size == (2, 2)
    assert d.get_layer("conv3_block1_0_conv").strides == (1, 1)
    with pytest.raises(ValueError, match="`variant` must be one of"):
        kr.ResNet50(variant="v2")


@pytest.mark.parametrize("name", ["resnet50d", "resnet18_v1.5", "resnet50v2d"])
def test_variants_have_plain_twins_and_backbones(name):
    model = kr.get_model(name, include_top=False, input_shape=(64, 64, 3))
    plain = kr.get_model(name, include_top=False, plain=True, input_shape=(64, 64, 3))
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    for m in (model, plain):
        out = kr.backbone(m)(np.zeros((1, 64, 64, 3), "float32"))
        assert [out[k].shape[1] for k in ("C2", "C3", "C4", "C5")] == [16, 8, 4, 2]


# The pre-activation CIFAR bottleneck case is PreActResNet164's spec at 3 blocks a stage (18 there): the same
# layers in either layout, a sixth of them.
@pytest.mark.onednn
@pytest.mark.parametrize("build,kwargs", [
    (kr.ResNet50, {}), (kr.ResNet50V2, {}), (kr.ResNet50, {"variant": "d"}), (kr.ResNet20, {}),
    (kr.CifarResNet, {"depth": 29, "block": "bottleneck", "preact": True}), (kr.ResNet18, {"output_stride": 8}),
], ids=["resnet50", "resnet50v2", "resnet50d", "resnet20", "preact_resnet29_bottleneck", "resnet18_os8"])
def test_channels_first_equals_channels_last(build, kwargs, channels_first):
    size = 32 if build in (kr.ResNet20, kr.CifarResNet) else 64
    first = build(input_shape=(3, size, size), classes=5, **kwargs)
    keras.config.set_image_data_format("channels_last")
    last = build(input_shape=(size, size, 3), classes=5, **kwargs)
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") if "variance" in w.path else
               rng.normal(0, 0.1, w.shape).astype("float32") for w in last.weights]
    last.set_weights(weights)
    first.set_weights(weights)
    x = rng.normal(size=(2, size, size, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first(x.transpose(0, 3, 1, 2))),
                               keras.ops.convert_to_numpy(last(x)), atol=1e-5)
    assert first.get_layer("predictions").input.shape[1] == last.get_layer("predictions").input.shape[1]


@pytest.mark.onednn
def test_channels_first_shapes_and_errors(channels_first):
    assert kr.ResNet50(include_top=False).input_shape == (None, 3, None, None)
    assert kr.ResNet20().input_shape == (None, 3, 32, 32)
    assert kr.ResNet50(include_top=False, input_shape=(1, 123, 123)).output_shape == (None, 2048, 4, 4)
    with pytest.raises(ValueError, match=r"`input_shape` \(3, 16, 16\) \(channels, height, width.*too small"):
        kr.ResNet50(input_shape=(3, 16, 16))
    with pytest.raises(ValueError, match=r"`input_shape` must be \(channels, height, width\)"):
        kr.ResNet50(input_shape=(None, 64, 64))
    y = keras.ops.convert_to_numpy(kr.ZeroPadShortcut(5, 2)(np.ones((1, 3, 4, 4), "float32")))
    assert y.shape == (1, 5, 2, 2) and y[:, :3].all() and not y[:, 3:].any()


STRIDES = {"C2": 4, "C3": 8, "C4": 16, "C5": 32}


# channels_first: one net per family (V1, V2). backbone() finds the stage outputs by the same rule in every net,
# so the other two would repeat its channels_first axis handling; test_channels_first_equals_channels_last
# runs ResNet-50-D in channels_first.
BACKBONE_CASES = [(name, "channels_last") for name in ("resnet50", "resnet50v2", "resnet18v2", "resnet50d")] + [
    pytest.param(name, "channels_first", marks=pytest.mark.onednn) for name in ("resnet50", "resnet50v2")]
# (height, width): unequal, so swapped axes fail. channels_first runs the smallest such size (32x64: C5 is 1x2, and
# the width still tells stride 32 from 64), as oneDNN's NCHW kernels on AVX2 CPUs take seconds per image; the
# channels_last cases check every stage's stride on both axes at 64x96.
BACKBONE_SIZES = {"channels_last": (64, 96), "channels_first": (32, 64)}


@pytest.mark.parametrize("name,data_format", BACKBONE_CASES)
@pytest.mark.parametrize("fixed", [False, True])
def test_backbone_strides_at_any_size(name, data_format, fixed):
    height, width = BACKBONE_SIZES[data_format]
    keras.config.set_image_data_format(data_format)
    try:
        shape = (height, width) if fixed else (None, None)
        shape = (3, *shape) if data_format == "channels_first" else (*shape, 3)
        features = kr.backbone(kr.get_model(name, include_top=False, input_shape=shape))
        x = np.zeros((1, 3, height, width) if data_format == "channels_first" else (1, height, width, 3), "float32")
        outputs = features(x)
    finally:
        keras.config.set_image_data_format("channels_last")
    axis = 2 if data_format == "channels_first" else 1
    assert {k: height // v.shape[axis] for k, v in outputs.items()} == STRIDES
    assert {k: width // v.shape[axis + 1] for k, v in outputs.items()} == STRIDES


# The CIFAR case: pre-activation basic blocks at 3 a stage (PreActResNet110's spec has 18), the same names and
# strides for backbone() to read from the loaded file.
@pytest.mark.parametrize("name", ["resnet50v2", "resnet18", "preact_resnet20"])
def test_backbone_of_a_loaded_model(name, tmp_path):
    """A loaded file has no recorded outputs: the stage outputs come from names and configured strides."""
    shape = (None, None, 3)
    model = kr.get_model(name, include_top=False, input_shape=shape)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert not getattr(loaded, "pyramid_outputs", None)
    size = 64 if name.startswith("resnet") else 32
    got = kr.backbone(loaded)(np.zeros((1, size, size, 3), "float32"))
    want = kr.backbone(model)(np.zeros((1, size, size, 3), "float32"))
    assert {k: v.shape for k, v in got.items()} == {k: v.shape for k, v in want.items()}
    assert [want[k].shape[1] for k in sorted(want)] == ([16, 8, 4, 2] if size == 64 else [32, 16, 8])


@pytest.fixture(scope="module")
def undilated():
    """``undilated(name)``: the net without top at 64x64 and no ``output_stride``, built once for this file
    (each output stride's case reads its weights, none changes it)."""
    built = {}

    def get(name: str) -> keras.Model:
        if name not in built:
            built[name] = kr.get_model(name, include_top=False, input_shape=(64, 64, 3))
        return built[name]

    return get


@pytest.mark.parametrize("name", ["resnet50", "resnet50v2", "resnet34"])
@pytest.mark.parametrize("output_stride,expected", [(8, [4, 8, 8, 8]), (16, [4, 8, 16, 16]), (32, [4, 8, 16, 32])])
def test_output_stride(name, output_stride, expected, undilated):
    plain = undilated(name)
    dilated = kr.get_model(name, include_top=False, input_shape=(64, 64, 3), output_stride=output_stride)
    out = kr.backbone(dilated)(np.zeros((1, 64, 64, 3), "float32"))
    assert [64 // out[k].shape[1] for k in ("C2", "C3", "C4", "C5")] == expected
    dilated.set_weights(plain.get_weights())  # the undilated net's weights load unchanged
    rates = {layer.dilation_rate[0] for layer in dilated.layers if isinstance(layer, keras.layers.Conv2D)}
    assert max(rates) == 32 // output_stride


def test_output_stride_keeps_the_first_dilated_block_at_the_previous_rate():
    model = kr.ResNet50(include_top=False, output_stride=8)
    assert model.get_layer("conv4_block1_2_conv").dilation_rate == (1, 1)
    assert model.get_layer("conv4_block1_2_conv").strides == (1, 1)
    assert model.get_layer("conv4_block2_2_conv").dilation_rate == (2, 2)
    assert model.get_layer("conv5_block1_2_conv").dilation_rate == (2, 2)
    assert model.get_layer("conv5_block2_2_conv").dilation_rate == (4, 4)


@pytest.mark.parametrize("call,match", [
    (lambda: kr.ResNet50(output_stride=12), r"`output_stride` must be one of \(8, 16, 32\); received output_stride=12"),
    # CIFAR builders do not take it (tests/test_signatures.py); the factory still refuses it for CIFAR specs.
    (lambda: kr.build_resnet(kr.SPECS["resnet20"], output_stride=8), "`output_stride` must be None for CIFAR nets"),
])
def test_bad_output_stride(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_saved_file_names_only_keras_classes(tmp_path):
    """The fused batch norm is saved as keras' own class: the file needs no keras_resnet."""
    path = tmp_path / "m.keras"
    kr.ResNet18(input_shape=(32, 32, 3), classes=3).save(path)
    config = zipfile.ZipFile(path).read("config.json").decode()
    assert "keras_resnet" not in config
    layers = {layer["name"]: layer for layer in json.loads(config)["config"]["layers"]}
    assert layers["conv1_bn"]["class_name"] == "BatchNormalization"
    assert layers["conv1_bn"]["module"] == "keras.layers"
