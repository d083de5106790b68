"""The one table that drives every network of the family.

Each entry of :data:`SPECS` is a :class:`ResNetSpec`: block kind, blocks per
stage and stage widths, exactly as in He et al. 2016 (CVPR), Table 1 (ImageNet)
and §4.2 (CIFAR), and He et al. 2016 (ECCV, "Identity Mappings in Deep Residual
Networks") for the pre-activation variants. The ImageNet nets come in three
layouts, each a row of the table: ``"v1"`` (keras.applications' layout for
50/101/152, torchvision's for 18/34), ``"v1.5"`` (stride in the bottleneck's
3x3 conv, no conv biases: torchvision, timm, Model Garden) and ``"d"`` (v1.5
with a deep 3x3 stem and average-pool projection shortcuts: ResNet-D of He et
al. 2019, "Bag of Tricks for Image Classification", §4.1). Plain twins,
shortcut options and width multipliers are arguments of the one builder, never
separate entries.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal

BlockKind = Literal["basic", "bottleneck"]
StemKind = Literal["imagenet", "cifar"]

SHORTCUTS = ("A", "B", "C")
BLOCK_KINDS = ("basic", "bottleneck")
IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)
VARIANTS = ("v1", "v1.5", "d")


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """Architecture of one network: what torchvision's depth table holds, and more.

    Attributes:
        name: Model name, e.g. ``"resnet50"`` (also the Keras model name).
        stem: ``"imagenet"`` (7x7/2 conv + 3x3/2 max-pool, Table 1) or
            ``"cifar"`` (one 3x3 conv, §4.2).
        block: ``"basic"`` (two 3x3 convs) or ``"bottleneck"`` (1x1, 3x3, 1x1;
            Fig. 5), whose output is 4x its width.
        preact: Pre-activation (BN-ReLU before each conv, ECCV 2016 Fig. 1b).
        blocks: Residual blocks in each stage.
        widths: Width of each stage's 3x3 convs (before the multiplier).
        use_bias: keras.applications conv biases (needed to load its weights).
        stride_at_last: keras.applications' ResNetV2 puts a stage's stride in
            its last block (and none in the last stage); otherwise the first
            block of stages 2.. downsamples, as in the papers.
        default_shortcut: The option the paper uses for this family (§3.3).
        weights_name: Name of keras.applications' published ImageNet weights.
        width_multiplier: Multiplies every width (CIFAR width studies).
        variant: ImageNet layout: ``"v1"``, ``"v1.5"`` or ``"d"`` (module docstring).
        stride_in_3x3: A downsampling bottleneck strides in its 3x3 conv (v1.5,
            pre-activation nets) rather than in its first 1x1 (the CVPR
            paper's Caffe models, keras.applications' ResNet50).
        deep_stem: Three 3x3 convs (32, 32, 64) instead of the 7x7 (ResNet-D).
        avg_down: Projection shortcuts average-pool 2x2 then project with a
            stride-1 1x1 conv, instead of a strided 1x1 conv (ResNet-D).
    """

    name: str
    stem: StemKind
    block: BlockKind
    preact: bool
    blocks: tuple[int, ...]
    widths: tuple[int, ...]
    use_bias: bool = False
    stride_at_last: bool = False
    default_shortcut: str = "B"
    weights_name: str | None = None
    width_multiplier: float = 1.0
    variant: str = "v1"
    stride_in_3x3: bool = False
    deep_stem: bool = False
    avg_down: bool = False

    @property
    def expansion(self) -> int:
        """Output channels / width of a block (4 for bottlenecks, Fig. 5)."""
        return 4 if self.block == "bottleneck" else 1

    @property
    def depth(self) -> int:
        """Weighted layers on the main path, as the paper counts them."""
        per_block = 3 if self.block == "bottleneck" else 2
        return 1 + per_block * sum(self.blocks) + 1

    @property
    def default_size(self) -> int:
        """Default input side: 224 for ImageNet, 32 for CIFAR."""
        return 224 if self.stem == "imagenet" else 32

    @property
    def stem_stride(self) -> int:
        """Input side / stem output side: 4 (7x7/2 conv + 3x3/2 pool) for ImageNet, 1 for CIFAR."""
        return 4 if self.stem == "imagenet" else 1

    @property
    def total_stride(self) -> int:
        """Input side / last feature-map side; also the smallest input side."""
        return self.stem_stride * 2 ** (len(self.blocks) - 1)

    def stage_widths(self) -> tuple[int, ...]:
        """Widths after the multiplier (at least 1 channel)."""
        return tuple(max(1, int(round(w * self.width_multiplier))) for w in self.widths)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict; :meth:`from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> ResNetSpec:
        """Rebuild a spec from :meth:`to_dict` output."""
        config = dict(config)
        config["blocks"] = tuple(config["blocks"])
        config["widths"] = tuple(config["widths"])
        return cls(**config)


def variant_name(name: str, variant: str) -> str:
    """Table key of ``variant`` of the ImageNet net ``name``: ``resnet50``,
    ``resnet50_v1.5`` or ``resnet50d`` (timm's name for ResNet-D)."""
    if variant not in VARIANTS:
        raise ValueError(f"`variant` must be one of {VARIANTS}; received variant={variant!r}")
    return {"v1": name, "v1.5": f"{name}_v1.5", "d": f"{name}d"}[variant]


def _imagenet(base: str, block: BlockKind, blocks: tuple[int, ...], v2: bool, variant: str) -> ResNetSpec:
    v1 = variant == "v1"
    keras_weights = v1 and block == "bottleneck"  # keras.applications ships only these
    return ResNetSpec(
        name=variant_name(base, variant),
        stem="imagenet",
        block=block,
        preact=v2,
        blocks=blocks,
        widths=IMAGENET_WIDTHS,
        use_bias=keras_weights,
        stride_at_last=v2 and v1,
        default_shortcut="B",
        weights_name=base if keras_weights else None,
        variant=variant,
        stride_in_3x3=v2 or not v1,
        deep_stem=variant == "d",
        avg_down=variant == "d",
    )


# Paper Table 1: depth -> (block, blocks per stage).
IMAGENET_DEPTHS: dict[int, tuple[BlockKind, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def cifar_spec(
    depth: int,
    block: BlockKind = "basic",
    preact: bool = False,
    width_multiplier: float = 1.0,
    name: str | None = None,
) -> ResNetSpec:
    """Spec of a CIFAR net (§4.2): 3 stages of 16/32/64, ``6n+2`` or ``9n+2`` layers.

    Basic blocks give ``depth = 6n + 2`` (ResNet-20 ... 1202, Table 6);
    bottlenecks give ``depth = 9n + 2`` (pre-activation ResNet-164/1001).

    Args:
        depth: Weighted layers on the main path: ``6n+2`` (basic blocks) or
            ``9n+2`` (bottlenecks).
        block: ``"basic"`` (two 3x3 convs) or ``"bottleneck"`` (1x1, 3x3, 1x1).
        preact: Pre-activation blocks (ECCV 2016, Fig. 1b).
        width_multiplier: Scales the 16/32/64 stage widths (at least 1 channel).
        name: Spec (and default model) name; ``[preact_]resnet<depth>`` if ``None``.
    """
    if block not in BLOCK_KINDS:
        raise ValueError(f"`block` must be one of {BLOCK_KINDS}; received block={block!r}")
    per_block = 9 if block == "bottleneck" else 6
    if not isinstance(depth, int) or depth < per_block + 2 or (depth - 2) % per_block:
        raise ValueError(
            f"`depth` of a CIFAR ResNet with {block} blocks must be {per_block}n+2 "
            f"(n >= 1, e.g. {per_block + 2}, {2 * per_block + 2}, ...); received depth={depth!r}"
        )
    if not width_multiplier > 0:
        raise ValueError(f"`width_multiplier` must be > 0; received {width_multiplier!r}")
    n = (depth - 2) // per_block
    default_name = f"{'preact_' if preact else ''}resnet{depth}"
    return ResNetSpec(
        name=name or default_name,
        stem="cifar",
        block=block,
        preact=preact,
        blocks=(n, n, n),
        widths=CIFAR_WIDTHS,
        default_shortcut="B" if preact else "A",
        width_multiplier=float(width_multiplier),
        stride_in_3x3=preact,
    )


def _table() -> dict[str, ResNetSpec]:
    specs: dict[str, ResNetSpec] = {}
    for depth, (block, blocks) in IMAGENET_DEPTHS.items():
        for v2 in (False, True):
            for variant in VARIANTS:
                spec = _imagenet(f"resnet{depth}{'v2' if v2 else ''}", block, blocks, v2=v2, variant=variant)
                specs[spec.name] = spec
    for depth in (20, 32, 44, 56, 110, 1202):
        specs[f"resnet{depth}"] = cifar_spec(depth)
    specs["preact_resnet110"] = cifar_spec(110, "basic", preact=True)
    for depth in (164, 1001):
        specs[f"preact_resnet{depth}"] = cifar_spec(depth, "bottleneck", preact=True)
    return specs


#: Every named network of the family, by its lower-case name.
SPECS: dict[str, ResNetSpec] = _table()


def resolve_spec(name: str, width_multiplier: float = 1.0, variant: str | None = None,
                 argument: str = "model") -> ResNetSpec:
    """The spec of the net called ``name``: a row of :data:`SPECS` or, for
    other CIFAR depths, ``resnet<6n+2>`` / ``preact_resnet<depth>`` through
    :func:`cifar_spec` (bottlenecks for pre-activation depths over 110 of the
    form ``9n+2``, as the ECCV paper's 164 and 1001). ``width_multiplier``
    scales a CIFAR net's widths; ``variant`` (one of :data:`VARIANTS`) picks
    an ImageNet net's variant row (:func:`variant_name`).

    The one answer to "which net is this": its family (``stem``), depth and
    input size (``default_size``) for training, evaluation, experiments and
    :func:`keras_resnet.get_model`; errors name ``argument``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`{argument}` must be a model name such as 'resnet20'; received {argument}={name!r}")
    if variant is not None:
        row = variant_name(name, variant)
        if row not in SPECS:
            raise ValueError(f"`variant` applies to the ImageNet nets of the table; received variant={variant!r} "
                             f"for {name!r}")
        name = row
    spec = SPECS.get(name)
    match = re.match(r"^(preact_)?resnet(\d+)$", name)
    if spec is None and match is None:
        raise ValueError(f"`{argument}` must be one of {sorted(SPECS)} or resnet<6n+2> / preact_resnet<depth> for "
                         f"a CIFAR depth; received {argument}={name!r}")
    if spec is not None and spec.stem == "imagenet" and width_multiplier != 1.0:
        raise ValueError(f"`width_multiplier` scales CIFAR nets only; received width_multiplier={width_multiplier!r} "
                         f"for {name!r}")
    if spec is not None and width_multiplier == 1.0:
        return spec
    depth, preact = int(match.group(2)), bool(match.group(1))
    block = spec.block if spec else ("bottleneck" if preact and depth > 110 and (depth - 2) % 9 == 0 else "basic")
    return cifar_spec(depth, block, preact=preact, width_multiplier=width_multiplier)
