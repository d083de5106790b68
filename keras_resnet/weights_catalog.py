"""Every published ImageNet weight set the nets load, as data.

One :class:`Entry` per file: where it is, how it is checked, what it scored
as published and the transform it was evaluated with. Sources:

* torchvision (``torchvision/models/resnet.py``, ``ResNet*_Weights``): the
  file name carries the first 8 hex digits of the file's SHA-256, which
  ``torch.hub`` checks;
* timm (``timm/models/resnet.py`` ``default_cfgs`` for URL and transform,
  ``results/results-imagenet.csv`` for accuracy at that transform): the
  GitHub-release files timm's configs name, made by timm's
  ``clean_checkpoint.py``, which also appends the first 8 hex digits of the
  SHA-256. 32 bits of a cryptographic hash leave a 2**-32 chance that a
  damaged or different file passes (torch.hub's guarantee), and every
  tensor's name and shape is then checked against the net on loading;
* keras.applications (``keras/src/applications/resnet.py``): MD5 of the
  whole file, one for each of the with- and without-top files.

Nets are keras_resnet's ``net`` + ``variant`` (see
:mod:`keras_resnet.specs`): torchvision and timm bottleneck nets are
``"v1.5"``, their basic-block nets ``"v1"``, timm's ``resnet*d`` ``"d"``.
"""

from __future__ import annotations

import dataclasses

from keras_resnet.transform import Transform

SOURCES = ("torchvision", "timm", "keras")

_IMAGENET_MEAN = tuple(255 * m for m in (0.485, 0.456, 0.406))  # torchvision's and timm's ImageNet statistics
_IMAGENET_STD = tuple(255 * s for s in (0.229, 0.224, 0.225))
_CAFFE_MEAN = (123.68, 116.779, 103.939)  # keras.applications "caffe" mode, RGB order

#: torchvision's ImageNet evaluation (resize 256, crop 224, bilinear, ImageNet mean/std): what a local
#: PyTorch ResNet checkpoint of unknown origin is taken to expect.
PYTORCH_DEFAULT = Transform(224, 256, "bilinear", _IMAGENET_MEAN, _IMAGENET_STD)

TORCHVISION_PAGE = "https://github.com/pytorch/vision/blob/main/torchvision/models/resnet.py"
TIMM_PAGE = "https://github.com/huggingface/pytorch-image-models/blob/main/results/results-imagenet.csv"
KERAS_PAGE = "https://keras.io/api/applications/"
KERAS_BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"

# keras.applications' published MD5 hashes: (with top, without top).
KERAS_HASHES: dict[str, tuple[str, str]] = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}


@dataclasses.dataclass(frozen=True)
class Entry:
    """One published weights file.

    Attributes:
        source: ``"torchvision"``, ``"timm"`` or ``"keras"``.
        tag: The publisher's name within the net (``"IMAGENET1K_V2"``, ``"a1_in1k"``, ``"imagenet"``).
        model: The publisher's model name (``"resnet50"``, timm's ``"resnet50d"``, ``"resnet50v2"``).
        net: keras_resnet's net name without variant (``"resnet50"``, ``"resnet50v2"``).
        variant: ``"v1"``, ``"v1.5"`` or ``"d"``.
        url: The file (for keras.applications, the with-top one).
        check: ``"sha256-prefix"`` (``digest`` starts the file's SHA-256) or ``"md5"``.
        digest: Expected hash (prefix) of ``url``'s file.
        file_mb: Size as published (torchvision: MB of 2**20 bytes, 3 decimals; keras: rounded MB);
            ``None`` where the publisher gives none.
        licence: The weights' licence as the publisher states it.
        top1: Published ImageNet-1k top-1 accuracy (%) with ``transform``.
        top5: Published top-5 accuracy (%).
        published: Where ``top1``/``top5`` are published.
        transform: The evaluation transform of those numbers.
        default: The publisher's default for this net (torchvision's ``DEFAULT``, timm's first tag).
    """

    source: str
    tag: str
    model: str
    net: str
    variant: str
    url: str
    check: str
    digest: str
    file_mb: float | None
    licence: str
    top1: float
    top5: float
    published: str
    transform: Transform
    default: bool = False

    @property
    def name(self) -> str:
        """The catalogue name, e.g. ``"torchvision:resnet50.IMAGENET1K_V2"``, ``"keras:resnet50"``."""
        return f"{self.source}:{self.model}" + ("" if self.source == "keras" else f".{self.tag}")

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def _torchvision(net: str, tag: str, file: str, top1: float, top5: float, file_mb: float, resize: int, *,
                 default: bool = False) -> Entry:
    variant = "v1" if net in ("resnet18", "resnet34") else "v1.5"
    return Entry("torchvision", tag, net, net, variant, f"https://download.pytorch.org/models/{file}", "sha256-prefix",
                 file.rsplit("-", 1)[1].split(".")[0], file_mb, "BSD-3-Clause", top1, top5, TORCHVISION_PAGE,
                 Transform(224, resize, "bilinear", _IMAGENET_MEAN, _IMAGENET_STD), default=default)


def _timm(model: str, url: str, top1: float, top5: float, size: int, crop_pct: float, *,
          default: bool = False) -> Entry:
    net, tag = model.split(".")
    variant = "d" if net.endswith("d") else ("v1" if net in ("resnet18", "resnet34") else "v1.5")
    return Entry("timm", tag, net, net.removesuffix("d"), variant, url, "sha256-prefix",
                 url.rsplit("-", 1)[1].split(".")[0], None, "Apache-2.0", top1, top5, TIMM_PAGE,
                 Transform.from_crop_pct(size, crop_pct, "bicubic", _IMAGENET_MEAN, _IMAGENET_STD), default=default)


def _keras(net: str, top1: float, top5: float, file_mb: float) -> Entry:
    # keras.applications states single 224 centre crops but no resize: 256 (crop_pct 0.875) is assumed here,
    # the ImageNet convention of the Caffe and TF-slim models it converted; the normalisation is its own.
    v2 = net.endswith("v2")
    transform = (Transform(224, 256, "bilinear", (127.5,) * 3, (127.5,) * 3) if v2
                 else Transform(224, 256, "bilinear", _CAFFE_MEAN, (1.0,) * 3, "bgr"))
    url = f"{KERAS_BASE_URL}{keras_file_name(net, include_top=True)}"
    return Entry("keras", "imagenet", net, net, "v1", url, "md5", KERAS_HASHES[net][0], file_mb, "MIT", top1, top5,
                 KERAS_PAGE, transform, default=True)


def keras_file_name(net: str, include_top: bool) -> str:
    """keras.applications' file name for one net, with or without its top."""
    return f"{net}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"


_RSB = "https://github.com/huggingface/pytorch-image-models/releases/download/v0.1-rsb-weights/"
_RSB_OLD = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-rsb-weights/"
_RA2 = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"

#: Every entry, by source; within a net the publisher's default first.
ENTRIES: tuple[Entry, ...] = (
    _torchvision("resnet18", "IMAGENET1K_V1", "resnet18-f37072fd.pth", 69.758, 89.078, 44.661, 256, default=True),
    _torchvision("resnet34", "IMAGENET1K_V1", "resnet34-b627a593.pth", 73.314, 91.420, 83.275, 256, default=True),
    _torchvision("resnet50", "IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 80.858, 95.434, 97.79, 232, default=True),
    _torchvision("resnet50", "IMAGENET1K_V1", "resnet50-0676ba61.pth", 76.130, 92.862, 97.781, 256),
    _torchvision("resnet101", "IMAGENET1K_V2", "resnet101-cd907fc2.pth", 81.886, 95.780, 170.53, 232, default=True),
    _torchvision("resnet101", "IMAGENET1K_V1", "resnet101-63fe2227.pth", 77.374, 93.546, 170.511, 256),
    _torchvision("resnet152", "IMAGENET1K_V2", "resnet152-f82ba261.pth", 82.284, 96.002, 230.474, 232, default=True),
    _torchvision("resnet152", "IMAGENET1K_V1", "resnet152-394f9c45.pth", 78.312, 94.046, 230.434, 256),
    _timm("resnet18.a1_in1k", f"{_RSB}resnet18_a1_0-d63eafa0.pth", 71.504, 90.086, 224, 0.95, default=True),
    _timm("resnet34.a1_in1k", f"{_RSB}resnet34_a1_0-46f8f793.pth", 76.420, 92.896, 224, 0.95, default=True),
    _timm("resnet50.a1_in1k", f"{_RSB_OLD}resnet50_a1_0-14fe96d1.pth", 80.382, 94.598, 224, 0.95, default=True),
    _timm("resnet50.a1h_in1k", f"{_RSB}resnet50_a1h2_176-001a1197.pth", 79.264, 94.498, 176, 0.9),
    _timm("resnet101.a1h_in1k", f"{_RSB_OLD}resnet101_a1h-36d3f2aa.pth", 81.950, 95.760, 224, 0.95, default=True),
    _timm("resnet101.a1_in1k", f"{_RSB}resnet101_a1_0-cdcb52a9.pth", 81.494, 95.164, 224, 0.95),
    _timm("resnet152.a1h_in1k", f"{_RSB_OLD}resnet152_a1h-dc400468.pth", 82.818, 96.124, 224, 0.95, default=True),
    _timm("resnet152.a1_in1k", f"{_RSB}resnet152_a1_0-2eee8a7a.pth", 81.998, 95.294, 224, 0.95),
    _timm("resnet18d.ra2_in1k", f"{_RA2}resnet18d_ra2-48a79e06.pth", 72.296, 90.682, 224, 0.875, default=True),
    _timm("resnet34d.ra2_in1k", f"{_RA2}resnet34d_ra2-f8dcfcaf.pth", 77.108, 93.372, 224, 0.875, default=True),
    _timm("resnet50d.ra2_in1k", f"{_RA2}resnet50d_ra2-464e36ba.pth", 80.546, 95.160, 224, 0.875, default=True),
    _timm("resnet50d.a1_in1k", f"{_RSB}resnet50d_a1_0-e20cff14.pth", 80.730, 94.678, 224, 0.95),
    _timm("resnet101d.ra2_in1k", f"{_RA2}resnet101d_ra2-2803ffab.pth", 82.254, 96.070, 256, 0.95, default=True),
    _timm("resnet152d.ra2_in1k", f"{_RA2}resnet152d_ra2-5cac0439.pth", 83.160, 96.370, 256, 0.95, default=True),
    _keras("resnet50", 74.9, 92.1, 98),
    _keras("resnet101", 76.4, 92.8, 171),
    _keras("resnet152", 76.6, 93.1, 232),
    _keras("resnet50v2", 76.0, 93.0, 98),
    _keras("resnet101v2", 77.2, 93.8, 171),
    _keras("resnet152v2", 78.0, 94.2, 232),
)

BY_NAME: dict[str, Entry] = {entry.name: entry for entry in ENTRIES}
