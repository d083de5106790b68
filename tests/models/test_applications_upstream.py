"""keras' own applications test, pointed at keras_resnet and at keras.applications.

An adaptation of ``keras/src/applications/applications_test.py``
(keras-team/keras) limited to its six ResNets: every case runs against
keras_resnet's six keras.applications-named builders *and*, as the reference,
keras.applications' own ResNet50 and ResNet50V2, in channels_last, and with
ResNet50 and ResNet50V2 from both in channels_first
(``keras.config.image_data_format()``, restored after each case), so a
difference in the outcomes is a parity gap.

The case that needs keras.applications' downloaded ImageNet weights (and
keras' ``elephant.jpg``) runs only when those files are already in the Keras
cache: tests never download. Upstream also skips that case for channels_first
on TensorFlow CPU; TensorFlow runs channels_first convolutions on the CPU with
oneDNN's kernels, so that skip is not carried over: the channels_first cases
carry the ``onednn`` mark, which runs them in a process with oneDNN on where
this CPU leaves it off (``tests/conftest.py``). Unlike upstream, the
classifier-activation case sets the data format too (upstream inherits
whatever format the previous case left).
"""

from __future__ import annotations

import functools
import os

import keras
import numpy as np
import pytest

import keras_resnet as kr
from keras_resnet import imagenet, weights

NAMES = ("ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2")
FEATURES = 2048  # channels of every one of the six nets' last stage


def _builder(source: str, name: str):
    return getattr(kr if source == "keras_resnet" else keras.applications, name)


# keras.applications is the reference that shows each case passes upstream: one net per family (its
# ResNet101/152 are the same builder function as its ResNet50, with other block counts) keeps that
# check at a third of the build time; keras_resnet runs all six. channels_first likewise runs one net per
# family from each source: keras_resnet's ResNet101/152 (V2) are ResNet50's (V2) builder with other block
# counts, so their channels_first cases would run the same layout code again on bigger nets.
REFERENCE_NAMES = ("ResNet50", "ResNet50V2")
CASES = [("keras_resnet", n) for n in NAMES] + [("keras.applications", n) for n in REFERENCE_NAMES]
FORMATS = {"channels_last": CASES, "channels_first": [(source, n) for source, n in CASES if n in REFERENCE_NAMES]}
PARAMS = [pytest.param((source, name, data_format), id=f"{source}-{name}-{data_format}",
                       marks=[pytest.mark.onednn] if data_format == "channels_first" else [])
          for data_format, cases in FORMATS.items() for source, name in cases]


@pytest.fixture(params=PARAMS)
def case(request):
    """(source, builder, data format) of one of the cases; sets ``keras.config.image_data_format()`` for it
    and restores the previous one after."""
    source, name, data_format = request.param
    saved = keras.config.image_data_format()
    keras.config.set_image_data_format(data_format)
    yield source, _builder(source, name), data_format
    keras.config.set_image_data_format(saved)


def _shape(height, width, channels, data_format):
    """An image shape (no batch axis) in ``data_format`` order."""
    return (channels, height, width) if data_format == "channels_first" else (height, width, channels)


def _channel_axis(data_format):
    return 1 if data_format == "channels_first" else -1


def test_notop_variable_input_channels(case):
    _, build, data_format = case
    expected = [None, *_shape(None, None, FEATURES, data_format)]
    for channels in (1, 4):
        model = build(weights=None, include_top=False, input_shape=_shape(None, None, channels, data_format))
        assert list(model.outputs[0].shape) == expected, channels


def test_notop_custom_input_shape(case):
    _, build, data_format = case
    model = build(weights=None, include_top=False, input_shape=_shape(123, 123, 3, data_format))
    assert model.outputs[0].shape[_channel_axis(data_format)] == FEATURES


def test_notop_custom_input_tensor(case):
    _, build, data_format = case
    # A 4-channel image turned into 3 channels at half the size by a layer of the user's own.
    image = keras.layers.Input(shape=_shape(200, 200, 4, data_format), name="custom_input")
    tensor = keras.layers.Conv2D(3, (2, 2), padding="valid", strides=(2, 2))(image)
    model = build(weights=None, include_top=False, input_tensor=tensor)
    assert model.outputs[0].shape[_channel_axis(data_format)] == FEATURES


def test_pooling(case):
    _, build, _ = case
    model = build(weights=None, include_top=False, pooling="max")
    assert list(model.outputs[0].shape) == [None, FEATURES]


def test_classifier_activation(case):
    _, build, _ = case
    model = build(weights=None, include_top=True, classifier_activation="softmax")
    assert model.layers[-1].activation.__name__ == "softmax"


def _cached(subdir: str, fname: str) -> str | None:
    path = os.path.join(os.path.dirname(weights.cache_dir()), subdir, fname)
    return path if os.path.isfile(path) else None


def _preprocessing(source: str, name: str):
    """(preprocess_input, decode_predictions) of the net's own package."""
    if source == "keras_resnet":
        mode = "tf" if name.endswith("V2") else "caffe"
        return functools.partial(imagenet.preprocess_input, mode=mode), imagenet.decode_predictions
    module = keras.applications.resnet_v2 if name.endswith("V2") else keras.applications.resnet
    return module.preprocess_input, module.decode_predictions


def test_imagenet_weights_classify_the_elephant(case):
    source, build, data_format = case
    fname = weights.file_name(build.__name__.lower(), include_top=True)
    weights_path, elephant = _cached("models", fname), _cached("datasets", "elephant.jpg")
    if weights_path is None or elephant is None:
        pytest.skip(f"needs keras.applications' downloaded ImageNet weights ({fname}) and keras' elephant.jpg "
                    f"in {os.path.dirname(weights.cache_dir())}; tests never download (offline CI)")
    preprocess, decode = _preprocessing(source, build.__name__)
    model = build(weights="imagenet")
    image = keras.utils.load_img(elephant, target_size=(224, 224))
    x = np.expand_dims(keras.utils.img_to_array(image, data_format=data_format), 0)
    names = [p[1] for p in decode(model.predict(preprocess(x), verbose=0))[0]]
    assert "African_elephant" in names[:3], names
    config = keras.saving.serialize_keras_object(model)
    rebuilt = keras.saving.deserialize_keras_object(config)
    assert len(rebuilt.weights) == len(model.weights)
