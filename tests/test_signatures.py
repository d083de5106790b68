"""Named builders' signatures, argument check, docstrings and stub files (keras_resnet.signatures, .stubs)."""

import doctest
import functools
import inspect

import keras
import pytest

import keras_resnet as kr
from keras_resnet import models, stubs
from keras_resnet.builder import build_resnet

APPLICATION_ARGS = ["include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
                    "classifier_activation", "name"]
IMAGENET_KEYWORDS = ["variant", "plain", "shortcut", "zero_init_residual", "kernel_initializer", "output_stride"]
CIFAR_KEYWORDS = ["plain", "shortcut", "zero_init_residual", "kernel_initializer"]


def _defaults(func) -> dict:
    return {name: p.default for name, p in inspect.signature(func).parameters.items()}


@pytest.mark.parametrize("builder", models._NAMED, ids=lambda b: b.__name__)
def test_every_builder_shows_every_argument(builder) -> None:
    params = inspect.signature(builder).parameters
    imagenet = builder.spec.stem == "imagenet"
    positional = [n for n, p in params.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    keywords = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY]
    assert positional == APPLICATION_ARGS
    assert keywords == (IMAGENET_KEYWORDS if imagenet else CIFAR_KEYWORDS)
    factory = _defaults(build_resnet)
    expected = {**factory, "classes": 1000 if imagenet else 10, "variant": "v1"}
    assert {n: p.default for n, p in params.items()} == {n: expected[n] for n in params}
    assert builder.__name__ == builder.__qualname__ and getattr(kr, builder.__name__) is builder
    doc = inspect.getdoc(builder)
    assert all(f"\n    {name}: " in doc for name in params), "every argument documented"
    assert f">>> kr.{builder.__name__}(include_top=False, pooling='avg').output_shape" in doc


def test_order_and_defaults_are_keras_applications() -> None:
    ours, theirs = _defaults(kr.ResNet50), _defaults(keras.applications.ResNet50)
    assert list(theirs) == APPLICATION_ARGS
    # Deliberate differences: no download unless asked; the name defaults to the net's (or plain twin's).
    differ = {n for n in theirs if ours[n] != theirs[n]}
    assert differ == {"weights", "name"} and ours["weights"] is None and ours["name"] is None


def test_cifar_resnet_signature() -> None:
    params = inspect.signature(kr.CifarResNet).parameters
    assert list(params) == ["depth", "block", "preact", "width_multiplier", *APPLICATION_ARGS, *CIFAR_KEYWORDS]
    assert params["depth"].default is inspect.Parameter.empty and params["classes"].default == 10
    assert str(params["block"].annotation) == "Literal['basic', 'bottleneck']"


def test_variants_are_partials_with_their_default() -> None:
    builder = kr.BUILDERS["resnet50d"]
    assert isinstance(builder, functools.partial) and builder.func.spec is kr.SPECS["resnet50"]
    assert inspect.signature(builder).parameters["variant"].default == "d"


@pytest.mark.parametrize("call, name, closest", [
    (lambda: kr.ResNet50(include_tops=False), "include_tops", "include_top"),
    (lambda: kr.BUILDERS["resnet50_v1.5"](pooing="avg"), "pooing", "pooling"),
    (lambda: kr.ResNet20(output_stride=8), "output_stride", None),
    (lambda: kr.CifarResNet(26, widht_multiplier=2.0), "widht_multiplier", "width_multiplier"),
    (lambda: kr.get_model("resnet26", classess=3), "classess", "classes"),
])
def test_misspelt_keyword_fails_in_one_line_before_the_factory(monkeypatch, call, name, closest) -> None:
    monkeypatch.setattr(models, "build_resnet", lambda *a, **k: pytest.fail("the factory ran"))
    with pytest.raises(TypeError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message and f"unexpected keyword argument {name!r}" in message
    assert (f"(did you mean {closest!r}?)" in message) == (closest is not None)
    assert "; it accepts " in message and "include_top, weights, input_tensor, input_shape, pooling, classes" in message


def test_positional_arguments_are_keras_applications_order() -> None:
    model = kr.ResNet20(False, None, None, (40, 40, 3), "max")
    assert model.output_shape == (None, 64) and model.layers[-1].name == "max_pool"
    with pytest.raises(TypeError, match=r"^ResNet20\(\): too many positional arguments; it accepts include_top"):
        kr.ResNet20(True, None, None, None, None, 10, "softmax", None, True)


@pytest.mark.parametrize("builder", [kr.ResNet18, kr.ResNet20, kr.CifarResNet], ids=lambda b: b.__name__)
def test_docstring_examples_run(builder) -> None:
    finder = doctest.DocTestFinder(recurse=False)
    (test,) = finder.find(builder, builder.__name__, globs={})
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test)
    assert result.attempted >= 2 and result.failed == 0


@pytest.mark.parametrize("path", list(stubs.STUBS), ids=lambda p: p.name)
def test_stub_files_are_current(path) -> None:
    assert path.read_text() == stubs.STUBS[path](), f"{path.name} is stale: run `python -m keras_resnet.stubs`"


def test_stub_declares_every_builder() -> None:
    text = stubs.render()
    for builder in (*models._NAMED, kr.CifarResNet, kr.get_model):
        assert f"\ndef {builder.__name__}(\n" in text
    assert "\nBUILDERS: dict[str, Callable[..., keras.Model]]\n" in text
    package = stubs.render_package()
    assert all(f" import {name} as {name}\n" in package for name in kr.__all__)


def test_stubs_command_writes_every_file(tmp_path, monkeypatch) -> None:
    targets = {tmp_path / path.name: render for path, render in stubs.STUBS.items()}
    monkeypatch.setattr(stubs, "STUBS", targets)
    stubs.main(["stubs"])
    assert all(path.read_text() == render() for path, render in targets.items())
    with pytest.raises(Exception, match="takes no arguments"):
        stubs.main(["stubs", "--check"])
