"""Weights: keras.applications' published ImageNet files, and local files.

``"imagenet"`` downloads keras.applications' official file once (same URLs and
MD5 hashes as keras.applications), caches it where ``keras.utils.get_file``
does (``$KERAS_HOME/models`` or ``~/.keras/models``), and refuses a file whose
hash differs. Downloads go to a temporary file renamed into place only after
the hash matched, so a broken download never poisons the cache. A local
``.safetensors``/``.pth``/``.pt`` file is a torchvision or timm checkpoint,
mapped by :mod:`keras_resnet.checkpoints`.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keras_resnet import checkpoints
from keras_resnet.io import atomic_path

if TYPE_CHECKING:
    import keras

    from keras_resnet.specs import ResNetSpec

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
TIMEOUT_SECONDS = 10.0

# keras.applications' published MD5 hashes: (with top, without top).
HASHES: dict[str, tuple[str, str]] = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}


def file_name(weights_name: str, include_top: bool) -> str:
    """keras.applications' file name for one net, with or without its top."""
    suffix = "" if include_top else "_notop"
    return f"{weights_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"


def cache_dir() -> Path:
    """Where downloads are kept: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    root = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(root) / "models"


def md5(path: str | os.PathLike) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(fname: str, origin: str, file_hash: str, timeout: float = TIMEOUT_SECONDS) -> Path:
    """Return the cached, hash-verified file ``fname``, downloading it if needed.

    Raises:
        ValueError: The cached or downloaded file's MD5 is not ``file_hash``.
        ConnectionError: The download failed (e.g. offline), within ``timeout``.
    """
    target = cache_dir() / fname
    if target.exists():
        got = md5(target)
        if got != file_hash:
            raise ValueError(
                f"Cached weights file {target} is corrupted or not the official one "
                f"(MD5 {got}, expected {file_hash}). Delete it and retry, or pass "
                "`weights='/path/to/file.h5'`."
            )
        return target
    try:
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as out, urllib.request.urlopen(origin, timeout=timeout) as src:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    out.write(chunk)
            got = md5(tmp)
            if got != file_hash:
                raise ValueError(
                    f"Downloaded weights from {origin} have MD5 {got}, expected {file_hash}: "
                    "refusing the file."
                )
    except (urllib.error.URLError, OSError) as err:
        raise ConnectionError(
            f"Could not download {origin} ({err}). Offline? Download that file on a "
            f"machine with internet access and either pass `weights='/path/to/{fname}'` "
            f"or put it at {target}."
        ) from err
    return target


def check_weights_arg(spec: ResNetSpec, weights: Any, include_top: bool, classes: int,
                      plain: bool, shortcut: str) -> None:
    """Validate ``weights`` before building (keras.applications' rules)."""
    if weights is None:
        return
    if weights == "imagenet":
        official = spec.weights_name in HASHES and not plain and shortcut == spec.default_shortcut
        if not official:
            have = ", ".join(sorted(HASHES))
            what = "a plain net" if plain else f"{spec.name} with shortcut {shortcut!r}"
            raise ValueError(
                f"No official ImageNet weights exist for {what}; keras.applications "
                f"publishes them only for: {have} (default shortcut). Use `weights=None` "
                "or a path to your own weights file."
            )
        if include_top and classes != 1000:
            raise ValueError(
                "`weights='imagenet'` with `include_top=True` needs `classes=1000`; "
                f"received classes={classes}"
            )
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            "`weights` must be None, 'imagenet' or a path to a weights file; "
            f"received weights={weights!r}"
        )
    if not os.path.isfile(weights):
        raise FileNotFoundError(
            f"`weights` file not found: {weights!r} (expected None, 'imagenet' or a path "
            "to a .h5 / .weights.h5 / .keras file or a PyTorch .safetensors / .pth checkpoint)"
        )
    if checkpoints.is_checkpoint(weights):
        checkpoints.check_readable(weights)


def load(model: keras.Model, spec: ResNetSpec, weights: str | os.PathLike, include_top: bool) -> None:
    """Load ``weights`` ("imagenet", a Keras weights file or a PyTorch checkpoint) into ``model``."""
    if weights == "imagenet":
        fname = file_name(spec.weights_name, include_top)
        path: str | os.PathLike = fetch(fname, BASE_URL + fname, HASHES[spec.weights_name][0 if include_top else 1])
    else:
        path = weights
    path_str = os.fspath(path)
    if checkpoints.is_checkpoint(path_str):
        checkpoints.load(model, path_str, include_top, spec.avg_down)
        return
    if not path_str.endswith((".h5", ".hdf5", ".keras")):
        raise ValueError(
            f"`weights` file {path_str!r} must end in .h5, .hdf5, .weights.h5 or .keras "
            f"(Keras weights) or {', '.join(checkpoints.SUFFIXES)} (PyTorch checkpoints)"
        )
    try:
        model.load_weights(path_str)
    except (ValueError, OSError, KeyError) as err:
        raise ValueError(
            f"`weights` file {path_str!r} does not fit {model.name} "
            f"(include_top={include_top}) or is not a readable weights file: {err}"
        ) from err
