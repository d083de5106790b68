"""The PyTorch peers: CIFAR ResNet-20 (option A) and keras.applications' ResNet-50, written out plainly, and their
candidates: training in NCHW and ``channels_last``, optionally ``torch.compile``-d, in float32 and under CPU autocast
to bfloat16; inference eager, TorchScript-frozen or ``torch.compile``-d (Inductor, weights frozen). Layers live in one
``nn.ModuleDict`` under their Keras names (``conv2_block1_1_conv`` ...), so :func:`copy_keras_weights` copies a
keras_resnet model's weights over by name and both frameworks run the same function on the same numbers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import keras
import numpy as np
import torch
import torch._inductor.config as inductor_config
import torch.nn.functional as F
from torch import nn

from benchmarks.workers import Candidate
from keras_resnet.blocks import BN_EPSILON

#: Training candidates: name -> (channels_last, torch.compile, autocast to bfloat16).
TRAINING = {"torch NCHW": (False, False, False), "torch channels_last": (True, False, False),
            "torch channels_last, autocast bf16": (True, False, True),
            "torch channels_last + compile": (True, True, False),
            "torch channels_last + compile, autocast bf16": (True, True, True)}
#: Inference candidates: name -> (channels_last, eager, TorchScript trace + freeze or torch.compile).
INFERENCE = {"torch NCHW": (False, "eager"), "torch channels_last": (True, "eager"),
             "torch channels_last TorchScript frozen": (True, "script"),
             "torch channels_last + compile": (True, "compile")}


class ResNet(nn.Module):
    """A v1 (post-activation) ResNet in keras_resnet's layout (He et al. 2016): ``stem`` ``"cifar"`` (one 3x3 conv,
    §4.2) or ``"imagenet"`` (7x7/2 conv and 3x3/2 max pool, Table 1); bottleneck blocks (stride in the first 1x1,
    as keras.applications) or basic ones; ``shortcut`` ``"A"`` (subsample and zero-pad) or ``"B"`` (1x1 projection
    where the shape changes); convolutions with biases if ``bias`` (keras.applications' ResNet-50)."""

    def __init__(self, stem: str, bottleneck: bool, blocks: tuple[int, ...], widths: tuple[int, ...],
                 shortcut: str, bias: bool, classes: int) -> None:
        super().__init__()
        self.stem, self.bottleneck, self.bias = stem, bottleneck, bias
        self.layers = nn.ModuleDict()
        self.plan: list[tuple[str, int, int]] = []  # (block name, stride, out channels)
        cifar = stem == "cifar"
        channels = self._conv_bn("conv1", 3, widths[0] if cifar else 64, 3 if cifar else 7, 1 if cifar else 2)
        for stage, (count, width) in enumerate(zip(blocks, widths, strict=True)):
            for index in range(count):
                name, stride, out = f"conv{stage + 2}_block{index + 1}", 2 if stage and not index else 1, width
                out *= 4 if bottleneck else 1
                if shortcut == "B" and (stride > 1 or channels != out):
                    self._conv_bn(f"{name}_0", channels, out, 1, stride)
                kernels = (1, 3, 1) if bottleneck else (3, 3)
                for conv, kernel in enumerate(kernels, start=1):
                    self._conv_bn(f"{name}_{conv}", channels if conv == 1 else width,
                                  out if conv == len(kernels) else width, kernel, stride if conv == 1 else 1)
                self.plan.append((name, stride, out))
                channels = out
        self.layers["predictions"] = nn.Linear(channels, classes)

    def _conv_bn(self, name: str, cin: int, cout: int, kernel: int, stride: int) -> int:
        self.layers[f"{name}_conv"] = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=self.bias)
        self.layers[f"{name}_bn"] = nn.BatchNorm2d(cout, eps=BN_EPSILON)
        return cout

    def _unit(self, name: str, x: torch.Tensor, relu: bool) -> torch.Tensor:
        x = self.layers[f"{name}_bn"](self.layers[f"{name}_conv"](x))
        return F.relu(x) if relu else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._unit("conv1", x, relu=True)
        if self.stem == "imagenet":
            x = F.max_pool2d(x, 3, 2, padding=1)  # after ReLU, -inf padding = keras' zero padding
        for name, stride, out in self.plan:
            if f"{name}_0_conv" in self.layers:
                short = self._unit(f"{name}_0", x, relu=False)
            elif stride > 1 or x.shape[1] != out:  # option A
                short = F.pad(x[:, :, ::stride, ::stride], (0, 0, 0, 0, 0, out - x.shape[1]))
            else:
                short = x
            convs = 3 if self.bottleneck else 2
            for conv in range(1, convs + 1):
                x = self._unit(f"{name}_{conv}", x, relu=conv < convs)
            x = F.relu(x + short)
        return self.layers["predictions"](torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet20(classes: int = 10) -> ResNet:
    """CIFAR ResNet-20 (§4.2, option-A shortcuts), as ``keras_resnet.get_model("resnet20")``."""
    return ResNet("cifar", False, (3, 3, 3), (16, 32, 64), "A", bias=False, classes=classes)


def resnet50(classes: int = 1000) -> ResNet:
    """ResNet-50 v1 as ``keras.applications.ResNet50`` (conv biases, stride in the first 1x1 conv)."""
    return ResNet("imagenet", True, (3, 4, 6, 3), (64, 128, 256, 512), "B", bias=True, classes=classes)


def _on_images(net: nn.Module, images: np.ndarray, channels_last: bool) -> tuple[nn.Module, torch.Tensor]:
    """``net`` and NHWC ``images`` as an NCHW tensor, both in the ``channels_last`` memory format if asked."""
    memory = torch.channels_last if channels_last else torch.contiguous_format
    return net.to(memory_format=memory), torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(memory_format=memory)


@torch.no_grad()
def copy_keras_weights(net: ResNet, model: keras.Model) -> ResNet:
    """Copy ``model``'s weights into ``net`` layer by layer (same names); returns ``net``."""
    for name, module in net.layers.items():
        layer = model.get_layer(name)
        if isinstance(module, nn.BatchNorm2d):
            sources = {"weight": layer.gamma, "bias": layer.beta, "running_mean": layer.moving_mean,
                       "running_var": layer.moving_variance}
        else:
            kernel = keras.ops.convert_to_numpy(layer.kernel)  # HWIO -> OIHW, or a dense kernel transposed
            sources = {"weight": kernel.transpose(3, 2, 0, 1) if kernel.ndim == 4 else kernel.T,
                       **({"bias": layer.bias} if module.bias is not None else {})}
        for key, value in sources.items():
            getattr(module, key).copy_(torch.from_numpy(np.ascontiguousarray(keras.ops.convert_to_numpy(value))))
    return net


def training_candidates(images: np.ndarray, labels: np.ndarray, classes: int, torch_compile: bool,
                        **sgd: float) -> list[Candidate]:
    """:data:`TRAINING` (``torch.compile`` only if ``torch_compile``): ResNet-20's SGD (``sgd``) steps on ``images``."""
    y = torch.from_numpy(labels)

    def step(channels_last: bool, compiled: bool, bf16: bool) -> Callable[[], None]:
        net, x = _on_images(resnet20(classes).train(), images, channels_last)
        forward, optimizer = torch.compile(net) if compiled else net, torch.optim.SGD(net.parameters(), **sgd)

        def run() -> None:
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(forward(x), y)
            loss.backward()
            optimizer.step()

        return run

    return [Candidate(name, len(images), step=step(*options), info={
        "framework": "torch", "channels_last": options[0], "torch_compile": options[1],
        "precision": "bf16" if options[2] else "fp32"}) for name, options in TRAINING.items()
        if torch_compile or not options[1]]


def predictors(net: ResNet, images: np.ndarray, torch_compile: bool) -> dict[str, Callable[[], np.ndarray]]:
    """:data:`INFERENCE` (``torch.compile`` only if ``torch_compile``): copies of ``net`` predicting ``images``."""
    def predictor(channels_last: bool, mode: str) -> Callable[[], np.ndarray]:
        model, x = _on_images(copy.deepcopy(net).eval(), images, channels_last)
        if mode == "script":
            with torch.inference_mode():
                model = torch.jit.freeze(torch.jit.trace(model, x))
        elif mode == "compile":
            inductor_config.freezing = True
            model = torch.compile(model)

        def predict() -> np.ndarray:
            with torch.inference_mode():
                return torch.softmax(model(x), dim=-1).numpy()

        return predict

    return {name: predictor(*mode) for name, mode in INFERENCE.items() if torch_compile or mode[1] != "compile"}
