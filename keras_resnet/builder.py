"""The one factory: a :class:`~keras_resnet.specs.ResNetSpec` in, a Keras model out.

The signature is keras.applications' (``include_top``, ``weights``,
``input_tensor``, ``input_shape``, ``pooling``, ``classes``,
``classifier_activation``, ``name``) plus the paper's switches: ``plain``
(§4.1 plain nets), ``shortcut`` (§3.3 options A/B/C) and
``zero_init_residual``, and ``output_stride`` for dense prediction. Every
layer follows ``keras.config.image_data_format()``; the stage outputs are
recorded while building, as ``model.pyramid_outputs`` (keras-hub's name).
"""

from __future__ import annotations

import sys
from typing import Any

import keras
from keras import layers

from keras_resnet import cpu
from keras_resnet import weights as weights_lib
from keras_resnet.blocks import BlockOptions, batch_norm, residual_block
from keras_resnet.specs import SHORTCUTS, ResNetSpec

POOLINGS = (None, "avg", "max")
OUTPUT_STRIDES = (8, 16, 32)


def _in_format(height: Any, width: Any, channels: Any) -> tuple:
    """A shape in ``keras.config.image_data_format()``'s order."""
    first = keras.config.image_data_format() == "channels_first"
    return (channels, height, width) if first else (height, width, channels)


def _input_shape(spec: ResNetSpec, input_shape: Any, include_top: bool, weights: Any) -> tuple:
    entry = weights_lib.entry_for(spec, weights) if weights_lib.is_name(weights) else None
    size = entry.transform.size if entry else spec.default_size
    if input_shape is None:
        return _in_format(size, size, 3) if include_top else _in_format(None, None, 3)
    order = _in_format("height", "width", "channels")
    data_format = keras.config.image_data_format()
    try:
        shape = tuple(None if d is None else int(d) for d in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) == 3:
        named = dict(zip(order, shape, strict=True))
        hw, channels = (named["height"], named["width"]), named["channels"]
    if len(shape) != 3 or any(d is not None and d < 1 for d in shape) or channels is None:
        raise ValueError(
            f"`input_shape` must be ({', '.join(order)}) with image_data_format {data_format!r}, "
            f"positive sizes and known channels; received input_shape={input_shape!r}"
        )
    low = spec.total_stride
    if any(d is not None and d < low for d in hw):
        raise ValueError(
            f"`input_shape` {shape} ({', '.join(order)}, {data_format}) is too small for {spec.name}: "
            f"height and width must be at least {low} (the net downsamples {low}x)"
        )
    if entry and channels != 3:
        raise ValueError(f"`weights={weights!r}` needs 3 input channels; received input_shape={shape}")
    if entry and entry.source == "keras" and include_top and shape != _in_format(224, 224, 3):
        raise ValueError(
            f"`weights={weights!r}` with `include_top=True` needs input_shape={_in_format(224, 224, 3)} "
            f"({data_format}, keras.applications' files); received input_shape={shape}"
        )
    return shape


def _inputs(input_tensor: Any, shape: tuple) -> tuple[Any, Any]:
    """(tensor the net reads, model inputs) as keras.applications resolves them."""
    if input_tensor is None:
        x = layers.Input(shape=shape)
        return x, x
    if not keras.backend.is_keras_tensor(input_tensor):
        x = layers.Input(tensor=input_tensor, shape=shape)
        return x, x
    got = tuple(input_tensor.shape[1:])
    if len(got) != 3 or any(a is not None and b is not None and a != b for a, b in zip(got, shape, strict=True)):
        raise ValueError(
            f"`input_tensor` has shape {tuple(input_tensor.shape)}; expected (batch, *{shape})"
        )
    return input_tensor, keras.utils.get_source_inputs(input_tensor)


def _deep_stem(x: Any, kernel_initializer: Any) -> Any:
    """ResNet-D's stem ("Bag of Tricks", §4.1): 3x3/2 (32), 3x3 (32), 3x3 (64)."""
    x = layers.ZeroPadding2D(padding=1, name="conv1_1_pad")(x)
    for index, (width, stride) in enumerate(((32, 2), (32, 1), (64, 1)), start=1):
        prefix = f"conv1_{index}"
        x = layers.Conv2D(width, 3, strides=stride, padding="valid" if stride > 1 else "same", use_bias=False,
                          kernel_initializer=kernel_initializer, name=f"{prefix}_conv")(x)
        if index < 3:
            x = batch_norm(x, f"{prefix}_bn")
            x = layers.Activation("relu", name=f"{prefix}_relu")(x)
    return x


def _stem(x: Any, spec: ResNetSpec, width: int, kernel_initializer: Any) -> Any:
    """Table 1's conv1 + pool (ImageNet; ResNet-D's three 3x3 convs) or §4.2's single 3x3 conv (CIFAR)."""
    if spec.deep_stem:
        x = _deep_stem(x, kernel_initializer)
    elif spec.stem == "imagenet":
        x = layers.ZeroPadding2D(padding=3, name="conv1_pad")(x)
        x = layers.Conv2D(width, 7, strides=2, use_bias=spec.use_bias,
                          kernel_initializer=kernel_initializer, name="conv1_conv")(x)
    else:
        x = layers.Conv2D(width, 3, padding="same", use_bias=spec.use_bias,
                          kernel_initializer=kernel_initializer, name="conv1_conv")(x)
    if not spec.preact:
        x = batch_norm(x, "conv1_bn")
        x = layers.Activation("relu", name="conv1_relu")(x)
    if spec.stem == "imagenet":
        x = layers.ZeroPadding2D(padding=1, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    return x


def stage_strides(spec: ResNetSpec, stage: int, blocks: int) -> list[int]:
    """Stride of each block of a stage (conv2 is stage 0 and keeps the size)."""
    strides = [1] * blocks
    if spec.stride_at_last:
        if stage < len(spec.blocks) - 1:
            strides[-1] = 2
    elif stage > 0:
        strides[0] = 2
    return strides


def _dilations(spec: ResNetSpec, output_stride: int | None) -> list[list[tuple[int, int]]]:
    """(stride, dilation) of each block of each stage.

    Past ``output_stride`` a block's stride becomes 1 and every later 3x3 conv
    is dilated by the stride it replaced (the block itself keeps the previous
    rate), as torchvision's ``replace_stride_with_dilation`` and DeepLab do.
    """
    total = spec.stem_stride
    dilation = 1
    plan = []
    for stage, blocks in enumerate(spec.blocks):
        stage_plan = []
        for stride in stage_strides(spec, stage, blocks):
            if stride > 1 and output_stride is not None and total >= output_stride:
                stage_plan.append((1, dilation))
                dilation *= stride
            else:
                total *= stride
                stage_plan.append((stride, dilation))
        plan.append(stage_plan)
    return plan


def _check_options(spec: ResNetSpec, shortcut: str | None, pooling: Any, classes: Any,
                   include_top: bool, output_stride: Any) -> str:
    if output_stride is not None and (spec.stem != "imagenet" or output_stride not in OUTPUT_STRIDES):
        allowed = f"one of {OUTPUT_STRIDES}" if spec.stem == "imagenet" else "None for CIFAR nets"
        raise ValueError(f"`output_stride` must be {allowed}; received output_stride={output_stride!r}")
    shortcut = spec.default_shortcut if shortcut is None else shortcut
    if shortcut not in SHORTCUTS:
        raise ValueError(f"`shortcut` must be one of {SHORTCUTS} (paper §3.3); received shortcut={shortcut!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {POOLINGS}; received pooling={pooling!r}")
    if include_top and (not isinstance(classes, int) or classes < 1):
        raise ValueError(f"`classes` must be a positive integer; received classes={classes!r}")
    return shortcut


def _allow_deep_graph(spec: ResNetSpec) -> None:
    """Keras walks functional graphs recursively (building, saving, loading);
    the 1202- and 1001-layer nets need more than Python's default 1000 frames,
    so the limit is raised (never lowered) to what the net needs."""
    needed = 40 * sum(spec.blocks) + 1000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


def build_resnet(
    spec: ResNetSpec,
    include_top: bool = True,
    weights: str | None = None,
    input_tensor: Any = None,
    input_shape: tuple | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: Any = "softmax",
    name: str | None = None,
    *,
    plain: bool = False,
    shortcut: str | None = None,
    zero_init_residual: bool = False,
    kernel_initializer: Any = "he_normal",
    output_stride: int | None = None,
) -> keras.Model:
    """Build the network ``spec`` describes (keras.applications' signature).

    Args:
        spec: Architecture (see :data:`keras_resnet.specs.SPECS`).
        include_top: Add global average pooling and the ``classes``-way
            ``predictions`` layer.
        weights: ``None``, ``"imagenet"`` (keras.applications' published
            files), a published name (``"torchvision"``, ``"timm"``,
            ``"torchvision:IMAGENET1K_V2"``, ``"timm:resnet50.a1_in1k"``; see
            :mod:`keras_resnet.weights`; downloaded once, hash-checked; the
            model gets their evaluation transform as ``model.transform``) or
            a path to a weights file (``.h5``, ``.weights.h5``, ``.keras``, or
            a torchvision/timm ``.safetensors``/``.pth``).
        input_tensor: Optional Keras tensor to use as the image input.
        input_shape: ``(height, width, channels)`` (``(channels, height,
            width)`` under ``channels_first``); defaults to the spec's size
            (named weights: their transform's) when ``include_top`` else
            ``(None, None, 3)``.
        pooling: ``None``, ``"avg"`` or ``"max"`` when ``include_top=False``.
        classes: Number of classes of the top layer.
        classifier_activation: Activation of the top layer (``None`` = logits).
        name: Model name; defaults to the spec's (``plain_`` prefix for plain).
        plain: Build the plain twin (§4.1): same layers, no shortcuts.
        shortcut: ``"A"``, ``"B"`` or ``"C"`` (§3.3); default: the paper's
            choice for the family (A for CIFAR, B otherwise).
        zero_init_residual: Start each residual branch's last BN gamma (last
            conv in pre-activation nets) at zero, so every block starts as
            the identity.
        kernel_initializer: Conv initializer; He normal as in the paper (§3.4).
        output_stride: ImageNet nets only: 8 or 16 dilate the last two or one
            stages instead of striding (DeepLab); ``None`` or 32 keep the
            paper's strides. Weights are those of the undilated net.

    Returns:
        The model, with ``pyramid_outputs``: ``{"C2": tensor, ...}`` the last
        feature map at each stage's stride (see :func:`keras_resnet.backbone`).

    Raises:
        ValueError: An argument out of range, or ``channels_first`` on a
            TensorFlow whose CPU kernels here have no NCHW convolution
            (oneDNN off: see :mod:`keras_resnet.cpu`).
    """
    shortcut = _check_options(spec, shortcut, pooling, classes, include_top=include_top, output_stride=output_stride)
    cpu.check_channels_first(keras.config.image_data_format())
    weights_lib.check_weights_arg(spec, weights, include_top=include_top, classes=classes, plain=plain,
                                  shortcut=shortcut)
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    shape = _input_shape(spec, input_shape, include_top=include_top, weights=weights)
    # The weights file (downloaded if need be) before the net is built.
    weights_file = None if weights is None else weights_lib.local_file(spec, weights, include_top=include_top)
    x, inputs = _inputs(input_tensor, shape)

    widths = spec.stage_widths()
    x = _stem(x, spec, widths[0] if spec.stem == "cifar" else 64, kernel_initializer)
    opts = BlockOptions(
        bottleneck=spec.block == "bottleneck",
        preact=spec.preact,
        shortcut=None if plain else shortcut,
        use_bias=spec.use_bias,
        zero_init_residual=zero_init_residual,
        kernel_initializer=kernel_initializer,
        stride_in_3x3=spec.stride_in_3x3,
        avg_down=spec.avg_down,
    )
    pyramid: dict[str, Any] = {}
    last_stage = len(spec.blocks) + 1
    pending = None  # pre-activation nets: the stage whose feature is the next block's entry
    for stage, (plan, width) in enumerate(zip(_dilations(spec, output_stride), widths, strict=True), start=2):
        for block, (stride, dilation) in enumerate(plan, start=1):
            x, entry = residual_block(x, width, stride, f"conv{stage}_block{block}", opts, dilation)
            if pending is not None:
                pyramid[pending], pending = entry, None
        if not spec.preact:
            pyramid[f"C{stage}"] = x
        elif spec.stride_at_last and stage < last_stage:
            pyramid[f"C{stage}"] = entry  # the last block strides: its input is at the stage's stride
        else:
            pending = f"C{stage}"
    if spec.preact:
        x = batch_norm(x, "post_bn")
        x = layers.Activation("relu", name="post_relu")(x)
        pyramid[pending] = x

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)

    model_name = name or (f"plain_{spec.name}" if plain else spec.name)
    _allow_deep_graph(spec)
    model = keras.Model(inputs, x, name=model_name)
    model.pyramid_outputs = pyramid
    if weights is not None:
        weights_lib.load(model, spec, weights, include_top=include_top, path=weights_file)
    return model
