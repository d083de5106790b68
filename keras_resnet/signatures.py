"""Signatures, argument checks and docstrings of the named builders, all made from the factory's.

A named builder (``ResNet50``, ``ResNet20``, ``CifarResNet`` ...) takes
keras.applications' arguments in keras.applications' order, then the
factory's switches, keyword-only. Its parameters, their annotations and
their ``Args:`` text are read off :func:`keras_resnet.builder.build_resnet`
(and :func:`keras_resnet.specs.cifar_spec` for ``CifarResNet``), with the
family's defaults (``classes`` 10 for CIFAR nets) and the ImageNet nets'
``variant``: one parameter list for every builder. ``inspect.signature`` and
``help`` read ``__signature__``; static analysers read
``keras_resnet/models.pyi``, which ``python -m keras_resnet.stubs`` writes
from the same functions.

``weights`` defaults to ``None`` in every builder, where keras.applications
defaults to ``"imagenet"``: keras.applications publishes files for a few of the
table's nets only (no variant, plain twin or other shortcut option), and a
default that downloads would make ``ResNet50()`` fail offline.
"""

from __future__ import annotations

import difflib
import inspect
import re
import textwrap
from collections.abc import Callable, Iterable
from typing import Any

from keras_resnet.builder import OUTPUT_STRIDES, POOLINGS, build_resnet
from keras_resnet.specs import BLOCK_KINDS, SHORTCUTS, VARIANTS, ResNetSpec, cifar_spec

Parameter = inspect.Parameter
SOURCES = {
    "imagenet": "He et al. 2016 (CVPR), Table 1",
    "imagenet_v2": "He et al. 2016 (ECCV), pre-activation; keras.applications ResNetV2 layout",
    "cifar": "He et al. 2016 (CVPR), §4.2 and Table 6",
    "cifar_v2": "He et al. 2016 (ECCV), Table 2 / §4.1 (CIFAR pre-activation)",
}
# Enumerated arguments: their annotation is made from the table the factory checks them against.
_CHOICES: dict[str, tuple] = {"block": BLOCK_KINDS, "pooling": POOLINGS, "shortcut": (None, *SHORTCUTS),
                              "output_stride": (None, *OUTPUT_STRIDES), "variant": VARIANTS}
_VARIANT_DOC = ("ImageNet layout: ``'v1'`` (the table's, keras.applications' for 50/101/152), ``'v1.5'`` (stride "
                "in the bottleneck's 3x3, no conv biases: torchvision, timm) or ``'d'`` (ResNet-D, He et al. 2019, "
                "\"Bag of Tricks\", §4.1).")
_WIDTH = 100


def builder_name(spec_name: str) -> str:
    """The public name of a table row's builder: ``resnet50v2`` -> ``ResNet50V2``,
    ``preact_resnet164`` -> ``PreActResNet164`` (keras.applications' spelling)."""
    return spec_name.replace("preact_", "PreAct").replace("resnet", "ResNet").replace("v2", "V2")


def _annotation(name: str, annotation: str) -> str:
    if name not in _CHOICES:
        return annotation
    values = [v for v in _CHOICES[name] if v is not None]
    optional = " | None" if None in _CHOICES[name] else ""
    return f"Literal[{', '.join(map(repr, values))}]{optional}"


def _parameters(func: Callable, skip: Iterable[str] = ()) -> list[Parameter]:
    return [p.replace(annotation=_annotation(p.name, p.annotation))
            for p in inspect.signature(func).parameters.values() if p.name not in skip]


def builder_signature(spec: ResNetSpec) -> inspect.Signature:
    """A named builder's: the factory's parameters without ``spec``, with the family's defaults."""
    imagenet = spec.stem == "imagenet"
    params = [p.replace(default=1000 if imagenet else 10) if p.name == "classes" else p
              for p in _parameters(build_resnet, skip=("spec",) if imagenet else ("spec", "output_stride"))]
    if imagenet:  # the first keyword-only argument
        first = next(i for i, p in enumerate(params) if p.kind is p.KEYWORD_ONLY)
        params.insert(first, Parameter("variant", Parameter.KEYWORD_ONLY, default=VARIANTS[0],
                                       annotation=_annotation("variant", "str")))
    return inspect.Signature(params, return_annotation="keras.Model")


def cifar_signature() -> inspect.Signature:
    """``CifarResNet``'s: :func:`cifar_spec`'s arguments, then a CIFAR builder's."""
    leading = _parameters(cifar_spec, skip=("name",))
    rest = builder_signature(cifar_spec(20)).parameters.values()
    return inspect.Signature([*leading, *rest], return_annotation="keras.Model")


def bind(func: Callable, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Every argument of a call of ``func`` by name, defaults filled in.

    Raises:
        TypeError: In one line, naming the unknown (or missing, or repeated)
            argument, the closest accepted name, and every accepted one.
    """
    signature = func.__signature__
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as err:
        accepted = list(signature.parameters)
        unknown = [k for k in kwargs if k not in signature.parameters]
        close = difflib.get_close_matches(unknown[0], accepted, n=1) if unknown else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"{func.__name__}(): {err}{hint}; it accepts {', '.join(accepted)}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


def _arg_docs(func: Callable) -> dict[str, str]:
    """``{argument: text}`` of a Google-style docstring's ``Args:`` section."""
    section = inspect.getdoc(func).split("Args:\n", 1)[1].split("\n\n", 1)[0]
    docs: dict[str, str] = {}
    name = ""
    for line in section.splitlines():
        match = re.match(r"^    (\w+): (.*)$", line)
        if match:
            name, docs[match[1]] = match[1], match[2]
        else:
            docs[name] += " " + line.strip()
    return docs


def _weights_note(spec: ResNetSpec | None) -> str:
    if spec is not None and spec.weights_name:
        return (f"``weights='imagenet'`` loads keras.applications' published {spec.weights_name} file (variant "
                "``'v1'``, default shortcut); the default, ``None``, builds offline with random weights.")
    return ("keras.applications publishes no ImageNet weights for this net: ``weights`` is ``None`` or a file "
            "(a torchvision or timm checkpoint included, see ``keras_resnet.weights``).")


def _example(call: str, output: tuple) -> str:
    return f"    >>> import keras_resnet as kr\n    >>> kr.{call}.output_shape\n    {output}"


def _docstring(summary: str, signature: inspect.Signature, note: str, example: str) -> str:
    docs = {**_arg_docs(cifar_spec), **_arg_docs(build_resnet), "variant": _VARIANT_DOC}
    args = "\n".join(textwrap.fill(f"{name}: {docs[name]}", _WIDTH, initial_indent="    ", subsequent_indent="        ",
                                   break_on_hyphens=False) for name in signature.parameters)
    paragraphs = [textwrap.fill(summary, _WIDTH), textwrap.fill(note, _WIDTH), f"Args:\n{args}",
                  "Returns:\n    The ``keras.Model``, with ``pyramid_outputs``: ``{'C2': tensor, ...}`` the last "
                  "feature map\n    at each stage's stride (see ``keras_resnet.backbone``).",
                  f"Example:\n{example}"]
    return "\n\n".join(paragraphs) + "\n"


def builder_doc(spec: ResNetSpec) -> str:
    """A named builder's docstring: the net, its source, every argument and an example that runs offline."""
    source = SOURCES[spec.stem + ("_v2" if spec.preact else "")]
    summary = (f"{builder_name(spec.name)}: {spec.depth} layers, {spec.block} blocks {spec.blocks}, "
               f"{'pre-activation' if spec.preact else 'post-activation'} ({source}). Arguments are "
               "keras.applications', in its order, then this package's (keyword-only).")
    features = spec.stage_widths()[-1] * spec.expansion
    example = _example(f"{builder_name(spec.name)}(include_top=False, pooling='avg')", (None, features))
    return _docstring(summary, builder_signature(spec), _weights_note(spec), example)


def cifar_doc() -> str:
    """``CifarResNet``'s docstring."""
    summary = ("Any CIFAR ResNet (He et al. 2016 (CVPR), §4.2): ``depth = 6n+2`` with basic blocks, ``9n+2`` "
               "with bottlenecks; ``width_multiplier`` scales the 16/32/64 stage widths.")
    spec = cifar_spec(26, width_multiplier=2.0)
    example = _example("CifarResNet(26, width_multiplier=2.0)", (None, 10)) + (
        "\n    >>> kr.CifarResNet(26, width_multiplier=2.0, include_top=False, pooling='avg').output_shape"
        f"\n    {(None, spec.stage_widths()[-1])}")
    return _docstring(summary, cifar_signature(), _weights_note(None), example)
