"""Transfer learning: a trained backbone, a new classifier head, frozen stages.

The usual advice (small data: use the net as a fixed feature extractor;
medium data: also fine-tune the top layers) as a two-phase recipe:

1. ``--init_weights`` loads a backbone: a ``.keras`` model trained here (its
   ``preprocess`` layer comes along), published weights by name
   (``imagenet``, ``torchvision``, ``timm:resnet50.a1_in1k``...; see
   :mod:`keras_resnet.weights`) or a torchvision/timm ``.pth``/``.safetensors``
   file, with the weights' normalisation built into the model as its
   ``preprocess`` layer and their evaluation transform as ``model.transform``
   (training evaluates with it). Its classifier is replaced by a new
   head for the new classes (``head_bn`` + ``predictions``, see
   :func:`add_head`); ``--freeze`` freezes the
   backbone, or the stem and the stages up to a named one (``conv3``), and
   the head is trained.
2. With ``--fine_tune_epochs``, the top ``--fine_tune_stages`` stages are
   unfrozen and trained on, at a lower learning rate.

Frozen layers are non-trainable, which in Keras 3 also keeps their
BatchNormalization layers in inference mode (moving statistics are used and
not updated), as fine-tuning needs.
"""

from __future__ import annotations

import os
import re

import keras
import numpy as np

from keras_resnet import checkpoints, datasets
from keras_resnet import weights as weights_lib
from keras_resnet.layers import load_model
from keras_resnet.models import get_model
from keras_resnet.specs import SPECS
from keras_resnet.transform import Transform
from keras_resnet.weights_catalog import PYTORCH_DEFAULT

HEAD = "predictions"
HEAD_BN = "head_bn"
_STAGE = re.compile(r"^conv(\d+)_")


def add_head(features: keras.Model, classes: int, normalize: bool = False) -> keras.Model:
    """A new ``predictions`` layer (float32 softmax over ``classes``) on a
    model whose output is pooled features (the paper's head, §3.4).

    ``normalize`` puts a ``head_bn`` BatchNormalization before it, as linear
    probes of frozen features do: the pooled ReLU features of another task
    are far from zero-mean and unit-scale, and a plain linear head on them
    needs many more epochs to fit.
    """
    if not isinstance(classes, int) or classes < 1:
        raise ValueError(f"`classes` must be a positive integer; received classes={classes!r}")
    x = features.output
    if normalize:
        x = keras.layers.BatchNormalization(name=HEAD_BN)(x)
    outputs = keras.layers.Dense(classes, activation="softmax", dtype="float32", name=HEAD)(x)
    return keras.Model(features.inputs, outputs, name=features.name)


def stages(model: keras.Model) -> tuple[str, ...]:
    """Stage names in order, e.g. ``("conv1", "conv2", "conv3", "conv4")``; ``conv1`` is the stem."""
    found = {int(m.group(1)) for layer in model.layers if (m := _STAGE.match(layer.name))}
    if not found:
        raise ValueError(f"`model` {model.name!r} is not a keras_resnet network (no conv<N>_ layers)")
    return tuple(f"conv{n}" for n in sorted(found))


def freeze_choices(model: keras.Model) -> tuple[str, ...]:
    """Allowed ``freeze`` values for ``model``."""
    return ("none", "backbone", *stages(model))


def freeze(model: keras.Model, until: str) -> None:
    """Set which layers train: ``"none"`` (all), ``"backbone"`` (only the
    head) or a stage name (everything up to and including that stage,
    input preprocessing and stem included, is frozen). Recompile afterwards."""
    choices = freeze_choices(model)
    if until not in choices:
        raise ValueError(f"`freeze` must be one of {choices}; received freeze={until!r}")
    last = int(until[4:]) if until.startswith("conv") else None
    in_stem = True
    for layer in model.layers:
        match = _STAGE.match(layer.name)
        stage = int(match.group(1)) if match else None
        in_stem = in_stem and (stage is None or stage == 1)
        if until == "none":
            frozen = False
        elif until == "backbone":
            frozen = layer.name not in (HEAD, HEAD_BN)
        else:
            frozen = in_stem or (stage is not None and stage <= last)
        layer.trainable = not frozen


def fine_tune_freeze(model: keras.Model, top_stages: int) -> str:
    """The ``freeze`` value that leaves the top ``top_stages`` stages (and the
    head) trainable: ``"backbone"`` for 0, the stem only for all of them."""
    names = stages(model)
    blocks = len(names) - 1  # conv1 is the stem
    if not isinstance(top_stages, int) or not 0 <= top_stages <= blocks:
        raise ValueError(f"`fine_tune_stages` must be in 0..{blocks} for {model.name}; "
                         f"received fine_tune_stages={top_stages!r}")
    return "backbone" if top_stages == 0 else names[blocks - top_stages]


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy every weighted layer of ``source`` into the layer of ``target`` with the same name."""
    for layer in source.layers:
        if layer.weights:
            target.get_layer(layer.name).set_weights(layer.get_weights())


def from_keras_file(path: str, classes: int, image_size: int | None = None) -> keras.Model:
    """A model trained here (``.keras``) with its head replaced for ``classes``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`init_weights` file not found: {path!r} "
                                "(expected a .keras model, a PyTorch checkpoint or published weights' name)")
    model = load_model(path, compile=False)
    names = {layer.name for layer in model.layers}
    if "avg_pool" not in names:
        raise ValueError(f"`init_weights` model {path!r} has no 'avg_pool' layer to put a new head on")
    size = model.input_shape[1]
    if image_size is not None and image_size != size:
        raise ValueError(f"`image_size`={image_size} differs from the `init_weights` model's input size {size}")
    features = keras.Model(model.inputs, model.get_layer("avg_pool").output, name=model.name)
    return add_head(features, classes, normalize=True)


def from_published(init_weights: str, model_name: str, classes: int, image_size: int | None = None
                   ) -> keras.Model:
    """Published weights for ``model_name`` (a catalogue name, or a local torchvision/timm checkpoint), with
    their transform's normalisation as the model's ``preprocess`` layer (raw RGB in [0, 255] in), the
    transform as ``model.transform``, and a new head for ``classes``.

    A local checkpoint is taken to use torchvision's ImageNet transform
    (:data:`~keras_resnet.weights_catalog.PYTORCH_DEFAULT`), as torchvision's
    and timm's ResNets (but timm's few ``ra4`` weights) do.
    """
    spec = SPECS.get(model_name)
    if spec is None or spec.stem != "imagenet":
        raise ValueError(f"`init_weights={init_weights!r}` needs an ImageNet net as `model`; "
                         f"received model={model_name!r}")
    named = weights_lib.is_name(init_weights)
    transform = weights_lib.entry_for(spec, init_weights).transform if named else PYTORCH_DEFAULT
    size = image_size or transform.size
    pretrained = get_model(model_name, weights=init_weights, include_top=False, pooling="avg",
                           input_shape=(size, size, 3))
    model = preprocessed(pretrained, model_name, classes, transform)
    model.transform = transform
    return model


def preprocessed(pretrained: keras.Model, model_name: str, classes: int, transform: Transform) -> keras.Model:
    """Rebuild ``pretrained`` (expecting ``transform``'s normalised input) to take raw RGB pixels: a
    ``preprocess`` layer with the transform's mean and std, and a BGR channel order (keras.applications'
    ResNet) folded into the first convolution's kernel."""
    spec = SPECS[model_name]
    shape = tuple(pretrained.input_shape[1:])
    inputs = keras.Input(shape, name="image")
    x = datasets.normalization_layer(np.float32(transform.mean), np.float32(transform.std))(inputs)
    features = get_model(model_name, include_top=False, pooling="avg", input_shape=shape, input_tensor=x)
    copy_weights(pretrained, features)
    if transform.channel_order == "bgr":
        conv1 = features.get_layer("conv1_1_conv" if spec.deep_stem else "conv1_conv")
        kernel, *rest = conv1.get_weights()
        conv1.set_weights([kernel[:, :, ::-1, :], *rest])
    return add_head(features, classes, normalize=True)


def load_init_weights(init_weights: str, model_name: str, classes: int, image_size: int | None = None
                      ) -> keras.Model:
    """``init_weights``: published weights by name, a torchvision/timm checkpoint, or a ``.keras`` model."""
    if weights_lib.is_name(init_weights):
        return from_published(init_weights, model_name, classes, image_size)
    if not str(init_weights).endswith(".keras") and not checkpoints.is_checkpoint(init_weights):
        raise ValueError("`init_weights` must be published weights ('imagenet', 'torchvision', "
                         "'timm:resnet50.a1_in1k'...: python -m keras_resnet.weights lists them), a torchvision/timm "
                         f".pth/.safetensors checkpoint or a .keras model trained here; received "
                         f"init_weights={init_weights!r}")
    if checkpoints.is_checkpoint(init_weights):
        if not os.path.isfile(init_weights):
            raise FileNotFoundError(f"`init_weights` file not found: {init_weights!r} (a torchvision/timm checkpoint)")
        return from_published(init_weights, model_name, classes, image_size)
    return from_keras_file(init_weights, classes, image_size)
