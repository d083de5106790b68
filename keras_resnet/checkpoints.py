"""PyTorch ResNet checkpoints (torchvision, timm) into keras_resnet models.

A torchvision or timm ResNet state dict (``.safetensors``, read with the
``safetensors`` package and no PyTorch; or a ``.pth``/``.pt`` pickle, read
with PyTorch) is copied into a built keras_resnet model by layer name:

==========================================  ====================================
PyTorch module                              keras_resnet layer
==========================================  ====================================
``conv1`` / ``bn1``                         ``conv1_conv`` / ``conv1_bn``
``conv1.0``, ``.1``, ``.3``, ``.4``, ``.6``  ``conv1_1_conv``, ``conv1_1_bn``,
(timm ResNet-D deep stem)                   ``conv1_2_conv``, ``conv1_2_bn``,
                                            ``conv1_3_conv``
``layer{S}.{B}.conv{i}`` / ``.bn{i}``       ``conv{S+1}_block{B+1}_{i}_conv`` / ``_bn``
``layer{S}.{B}.downsample.0`` / ``.1``      ``..._0_conv`` / ``..._0_bn``
(timm ResNet-D: ``.1`` / ``.2``; ``.0`` is the parameter-free average pool)
``fc``                                      ``predictions``
==========================================  ====================================

Convolution kernels go from PyTorch's OIHW to Keras' HWIO (whatever the
image data format), the dense kernel is ``fc.weight`` transposed, and batch
norm's ``weight``/``bias``/``running_mean``/``running_var`` become
``gamma``/``beta``/``moving_mean``/``moving_variance``
(``num_batches_tracked`` is ignored). Only numpy and ``layer.set_weights``
are used, so loading works on every Keras backend.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_resnet.specs import IMAGENET_DEPTHS

if TYPE_CHECKING:
    import keras

SAFETENSORS = ".safetensors"
PICKLES = (".pth", ".pt")
SUFFIXES = (SAFETENSORS, *PICKLES)

_KERAS_TO_TORCH = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
                   "moving_mean": "running_mean", "moving_variance": "running_var"}
_IGNORED = re.compile(r"(^|\.)num_batches_tracked$")
_STEM = {"conv1_conv": "conv1", "conv1_bn": "bn1", "conv1_1_conv": "conv1.0", "conv1_1_bn": "conv1.1",
         "conv1_2_conv": "conv1.3", "conv1_2_bn": "conv1.4", "conv1_3_conv": "conv1.6", "predictions": "fc"}
_BLOCK = re.compile(r"^conv(\d+)_block(\d+)_(\d)_(conv|bn)$")


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a PyTorch checkpoint (by its suffix)."""
    return os.fspath(path).lower().endswith(SUFFIXES)


def _import_torch(path: str | os.PathLike) -> Any:
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            f"`weights` file {os.fspath(path)!r} is a PyTorch pickle: reading it needs PyTorch "
            "(`pip install torch`), or convert it to .safetensors"
        ) from err
    return torch


def check_readable(path: str | os.PathLike) -> None:
    """Fail fast, before a model is built, if the library that reads ``path`` is missing."""
    if os.fspath(path).lower().endswith(PICKLES):
        _import_torch(path)


def read(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The state dict in ``path`` as numpy arrays, by PyTorch key."""
    path_str = os.fspath(path)
    if path_str.lower().endswith(SAFETENSORS):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        reader, errors = load_file, (SafetensorError, OSError)
    else:
        # torch's weights-only unpickler fails on corrupt opcodes with IndexError (an empty stack) or KeyError
        # (a missing memo entry), not only UnpicklingError.
        reader, errors = _read_pickle, (pickle.UnpicklingError, RuntimeError, ValueError, OSError, EOFError,
                                        IndexError, KeyError)
    try:
        return reader(path_str)
    except errors as err:
        raise ValueError(f"`weights` file {path_str!r} is not a readable PyTorch checkpoint: {err}") from err


def _read_pickle(path: str) -> dict[str, np.ndarray]:
    torch = _import_torch(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError("it holds no flat state dict of tensors (save `model.state_dict()`)")
    return {k: (v.float() if v.is_floating_point() else v).numpy() for k, v in state.items()}


def classes(state: dict[str, np.ndarray]) -> int | None:
    """Output classes of the checkpoint's ``fc`` layer (``None`` without one)."""
    fc = state.get("fc.weight")
    return None if fc is None else int(fc.shape[0])


def describe(state: dict[str, np.ndarray]) -> str:
    """What the keys say the checkpoint is, e.g. ``"resnet50 variant='d', 1000 classes"``."""
    stages: dict[int, int] = {}
    for key in state:
        match = re.match(r"layer(\d+)\.(\d+)\.", key)
        if match:
            stage, block = int(match.group(1)), int(match.group(2))
            stages[stage] = max(stages.get(stage, 0), block + 1)
    kind = "bottleneck" if any(re.match(r"layer\d+\.\d+\.conv3\.weight$", k) for k in state) else "basic"
    blocks = tuple(stages[s] for s in sorted(stages))
    depth = next((d for d, row in IMAGENET_DEPTHS.items() if row == (kind, blocks)), None)
    if depth is None:
        return f"not a torchvision/timm ResNet-18..152 state dict ({kind} blocks {blocks})"
    variant = "d" if "conv1.0.weight" in state else ("v1.5" if kind == "bottleneck" else "v1")
    n = classes(state)
    return f"resnet{depth} variant={variant!r}, " + ("no fc" if n is None else f"{n} classes")


def _torch_module(layer_name: str, avg_down: bool) -> str | None:
    if layer_name in _STEM:
        return _STEM[layer_name]
    match = _BLOCK.match(layer_name)
    if not match:
        return None
    stage, block, index, kind = int(match.group(1)) - 1, int(match.group(2)) - 1, int(match.group(3)), match.group(4)
    prefix = f"layer{stage}.{block}."
    if index > 0:
        return f"{prefix}{kind}{index}"
    return f"{prefix}downsample.{int(avg_down) + (kind == 'bn')}"


def _natural(key: str) -> list[Any]:
    """Sort key putting ``layer3.2`` before ``layer3.10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def _torch_shape(keras_shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(keras_shape) == 4:  # HWIO -> OIHW
        return (keras_shape[3], keras_shape[2], keras_shape[0], keras_shape[1])
    return tuple(reversed(keras_shape))  # dense (in, out) -> (out, in); vectors unchanged


def _to_keras(value: np.ndarray) -> np.ndarray:
    if value.ndim == 4:
        return np.transpose(value, (2, 3, 1, 0))
    return value.T if value.ndim == 2 else value


def _targets(model: keras.Model, avg_down: bool) -> Iterator[tuple[Any, list[str]]]:
    """Each weighted layer of ``model`` with the PyTorch key of each of its weights."""
    for layer in model.layers:
        if not layer.weights:
            continue
        module = _torch_module(layer.name, avg_down=avg_down)
        if module is None:
            raise ValueError(
                f"keras layer {layer.name!r} of {model.name} has no torchvision/timm counterpart: "
                "PyTorch checkpoints fit ResNet-18..152 (variants 'v1', 'v1.5', 'd') with "
                "projection shortcuts, not V2, plain or CIFAR nets"
            )
        names = [w.name.split("/")[-1] for w in layer.weights]
        yield layer, [f"{module}.{_KERAS_TO_TORCH[n]}" for n in names]


def assign(model: keras.Model, state: dict[str, np.ndarray], include_top: bool, avg_down: bool,
           source: str = "checkpoint") -> None:
    """Copy ``state`` into ``model``; fail on the first tensor that does not fit.

    Args:
        model: A built keras_resnet ImageNet net (variant 'v1', 'v1.5' or 'd').
        state: PyTorch key -> array (see :func:`read`).
        include_top: Whether the model has its ``predictions`` layer; without
            it the checkpoint's ``fc.*`` is dropped.
        avg_down: The model's projection shortcuts average-pool first (ResNet-D),
            so timm numbers their conv/bn ``downsample.1``/``.2``.
        source: Names the checkpoint in errors (its path).

    Raises:
        ValueError: A missing, extra or mis-shaped tensor, or a class count
            other than the checkpoint's with ``include_top``.
    """
    def fail(problem: str) -> ValueError:
        return ValueError(f"`weights` checkpoint {source} ({describe(state)}) does not fit {model.name}: {problem}")

    have = classes(state)
    want = model.get_layer("predictions").units if include_top else None
    if include_top and have is not None and have != want:
        raise fail(f"it has {have} classes (fc.weight {state['fc.weight'].shape}) and the model classes={want}; "
                   f"pass classes={have}, or include_top=False to drop fc.*")
    used: set[str] = set()
    assignments = []
    for layer, keys in _targets(model, avg_down=avg_down):
        values = []
        for key, weight in zip(keys, layer.weights, strict=True):
            expected = _torch_shape(tuple(weight.shape))
            if key not in state:
                raise fail(f"no tensor {key!r} for keras layer {layer.name!r} (shape {expected})")
            if tuple(state[key].shape) != expected:
                raise fail(f"tensor {key!r} has shape {tuple(state[key].shape)}; keras layer "
                           f"{layer.name!r} needs {expected}")
            values.append(_to_keras(state[key]))
            used.add(key)
        assignments.append((layer, values))
    for key in sorted(state, key=_natural):  # the same first error whatever order the file keeps
        if key not in used and not _IGNORED.search(key) and (include_top or not key.startswith("fc.")):
            raise fail(f"tensor {key!r} {tuple(state[key].shape)} has no keras layer")
    for layer, values in assignments:  # only once everything fits: no half-loaded model
        layer.set_weights(values)


def load(model: keras.Model, path: str | os.PathLike, include_top: bool, avg_down: bool) -> None:
    """Read the checkpoint at ``path`` and :func:`assign` it to ``model``."""
    assign(model, read(path), include_top=include_top, avg_down=avg_down, source=repr(os.fspath(path)))
