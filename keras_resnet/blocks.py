"""Residual blocks, named as keras.applications names them.

A block is ``prefix_{0..3}_{conv,bn,relu}`` plus ``prefix_add``/``prefix_out``
(e.g. ``conv2_block1_1_conv``). ``BlockOptions.shortcut=None`` gives the
paper's plain block (§4.1): the same layers with no shortcut and no addition.
Layers follow ``keras.config.image_data_format()`` as keras.applications'
do; a block's ``dilation`` replaces a stride for dense prediction (DeepLab,
Chen et al. 2017, §3.1).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
from keras import layers

from keras_resnet.layers import BatchNormalization, ZeroPadShortcut

BN_EPSILON = 1.001e-5  # keras.applications' value, needed to reuse its weights


@dataclasses.dataclass(frozen=True)
class BlockOptions:
    """What every block of one network shares."""

    bottleneck: bool
    preact: bool
    shortcut: str | None  # "A", "B", "C" (paper §3.3) or None for the plain twin
    use_bias: bool
    zero_init_residual: bool
    kernel_initializer: Any
    stride_in_3x3: bool = False  # v1.5 / pre-activation bottlenecks
    avg_down: bool = False  # ResNet-D projection shortcut

    @property
    def expansion(self) -> int:
        return 4 if self.bottleneck else 1


def channel_axis() -> int:
    """Axis of the channels under ``keras.config.image_data_format()``."""
    return 1 if keras.config.image_data_format() == "channels_first" else -1


def batch_norm(x: Any, name: str, zero: bool = False) -> Any:
    """Batch norm over channels (§3.4) with keras.applications' epsilon; ``zero``: gamma starts at 0."""
    return BatchNormalization(
        axis=channel_axis(),
        epsilon=BN_EPSILON,
        gamma_initializer="zeros" if zero else "ones",
        name=name,
    )(x)


def _conv(
    x: Any,
    filters: int,
    kernel: int,
    name: str,
    opts: BlockOptions,
    *,
    stride: int = 1,
    bias: bool | None = None,
    zero: bool = False,
    pad: bool = False,
    dilation: int = 1,
) -> Any:
    """Conv; 3x3 convs that stride (or, with ``pad``, all) get explicit, symmetric padding."""
    padding = "valid"
    if kernel > 1:
        if pad or stride > 1:
            x = layers.ZeroPadding2D(padding=dilation * (kernel // 2), name=f"{name}_pad")(x)
        else:
            padding = "same"
    return layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding=padding,
        dilation_rate=dilation,
        use_bias=opts.use_bias if bias is None else bias,
        kernel_initializer="zeros" if zero else opts.kernel_initializer,
        name=f"{name}_conv",
    )(x)


def _shortcut(x: Any, source: Any, out: int, stride: int, name: str, opts: BlockOptions) -> Any:
    """The shortcut branch, or ``None`` for a plain block.

    Option A pads with zeros wherever the shape changes; B projects (1x1 conv)
    where the width changes and subsamples where only the size does; C
    projects on every block. Projections read ``source`` (the pre-activated
    input in pre-activation nets, ECCV 2016 §3), identities read ``x``;
    ResNet-D's projection average-pools 2x2 before a stride-1 1x1 conv
    ("Bag of Tricks", §4.1; the pool ignores padding, like PyTorch's
    ``ceil_mode=True, count_include_pad=False``).
    """
    if opts.shortcut is None:
        return None
    width_changes = x.shape[channel_axis()] != out
    if opts.shortcut == "C" or (opts.shortcut == "B" and width_changes):
        if opts.avg_down and stride > 1:
            source = layers.AveragePooling2D(stride, strides=stride, padding="same", name=f"{name}_0_pool")(source)
            stride = 1
        s = _conv(source, out, 1, f"{name}_0", opts, stride=stride)
        return s if opts.preact else batch_norm(s, f"{name}_0_bn")
    if opts.shortcut == "A" and (width_changes or stride > 1):
        return ZeroPadShortcut(out, stride, name=f"{name}_0_zeropad")(x)
    if stride > 1:
        return layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(x)
    return x


def _branch(width: int, out: int, stride: int, opts: BlockOptions) -> list[tuple[int, int, int]]:
    """(filters, kernel, stride) of each conv of the residual branch.

    keras.applications' v1 bottleneck strides in its first 1x1 conv (as the
    CVPR paper's Caffe models do); v1.5 and pre-activation bottlenecks stride
    in the 3x3 conv.
    """
    if not opts.bottleneck:
        return [(width, 3, stride), (out, 3, 1)]
    first, middle = (1, stride) if opts.stride_in_3x3 else (stride, 1)
    return [(width, 1, first), (width, 3, middle), (out, 1, 1)]


def residual_block(x: Any, width: int, stride: int, name: str, opts: BlockOptions,
                   dilation: int = 1) -> tuple[Any, Any]:
    """One block: post-activation (CVPR 2016 Fig. 2/5) or pre-activation (ECCV 2016 Fig. 1b).

    Returns ``(output, entry)``: ``entry`` is what the residual branch reads,
    the pre-activated input in pre-activation nets (a stage's feature map
    where the stage ends before this block) and ``x`` otherwise. ``dilation``
    is the rate of the block's 3x3 convs.
    """
    out = width * opts.expansion
    if opts.preact:
        source = batch_norm(x, f"{name}_preact_bn")
        source = layers.Activation("relu", name=f"{name}_preact_relu")(source)
    else:
        source = x
    shortcut = _shortcut(x, source, out, stride, name, opts)
    zero_last = opts.zero_init_residual and shortcut is not None

    y = source
    convs = _branch(width, out, stride, opts)
    for index, (filters, kernel, conv_stride) in enumerate(convs, start=1):
        prefix = f"{name}_{index}"
        last = index == len(convs)
        # keras.applications' ResNetV2 has biases only in each block's last conv.
        bias = opts.use_bias and (last or not opts.preact)
        zero = zero_last and last
        rate = dilation if kernel > 1 else 1
        y = _conv(y, filters, kernel, prefix, opts, stride=conv_stride, bias=bias, zero=zero and opts.preact,
                  pad=opts.preact, dilation=rate)
        if last and opts.preact:
            break
        y = batch_norm(y, f"{prefix}_bn", zero=zero)
        if not last:
            y = layers.Activation("relu", name=f"{prefix}_relu")(y)

    if opts.preact:
        return (y if shortcut is None else layers.Add(name=f"{name}_out")([shortcut, y])), source
    if shortcut is not None:
        y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y), source
