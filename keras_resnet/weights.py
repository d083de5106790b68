"""The ``weights`` argument: published weights by name, or a local file.

Names come from :mod:`keras_resnet.weights_catalog`:

* ``"imagenet"``: keras.applications' file for the net (as keras.applications);
* ``"torchvision"``, ``"timm"``, ``"keras"``: that publisher's default for the net and variant;
* ``"torchvision:IMAGENET1K_V2"``, ``"timm:a1_in1k"``: a publisher's tag for the net;
* the catalogue's full names, ``"torchvision:resnet50.IMAGENET1K_V2"``, ``"timm:resnet50.a1_in1k"``.

A named file is downloaded once into Keras' cache and checked before every
use (:mod:`keras_resnet.download`); the built model then carries the
weights' evaluation :class:`~keras_resnet.transform.Transform` as
``model.transform``. A local ``.safetensors``/``.pth``/``.pt`` file is a
torchvision or timm checkpoint (:mod:`keras_resnet.checkpoints`); ``.h5`` /
``.weights.h5`` / ``.keras`` files are Keras weights.

``python -m keras_resnet.weights`` prints the catalogue (``--markdown``: the
table of ``docs/weights.md``; ``--defaults``: only each publisher's default per net).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from keras_resnet import checkpoints, download
from keras_resnet import weights_catalog as catalog
from keras_resnet.download import cache_dir
from keras_resnet.specs import variant_name
from keras_resnet.transform import Transform
from keras_resnet.weights_catalog import keras_file_name as file_name

if TYPE_CHECKING:
    import keras

    from keras_resnet.specs import ResNetSpec

__all__ = ["cache_dir", "check_weights_arg", "entry_for", "file_name", "load", "names_for", "transform_for"]


def is_name(weights: Any) -> bool:
    """Whether ``weights`` names published weights (rather than a file; ``"imagenet"`` always is a name)."""
    if weights == "imagenet":
        return True
    return isinstance(weights, str) and not os.path.exists(weights) and weights.split(":", 1)[0] in catalog.SOURCES


def _fits(entry: catalog.Entry, spec: ResNetSpec) -> bool:
    return spec.name == variant_name(entry.net, entry.variant) and spec.width_multiplier == 1.0


def names_for(spec: ResNetSpec) -> list[str]:
    """Catalogue names of the weights that fit ``spec`` (its net and variant)."""
    return [e.name for e in catalog.ENTRIES if _fits(e, spec)]


def _matches(entry: catalog.Entry, name: str) -> bool:
    source, _, tag = name.partition(":")
    if name == "imagenet":
        return entry.source == "keras"
    if source != entry.source:
        return False
    return entry.default if not tag else tag in (entry.tag, f"{entry.model}.{entry.tag}")


def entry_for(spec: ResNetSpec, name: str, plain: bool = False, shortcut: str | None = None) -> catalog.Entry:
    """The catalogue entry ``name`` means for ``spec``; one-line ``ValueError`` listing the names that fit."""
    fitting = [e for e in catalog.ENTRIES if _fits(e, spec)]
    usable = not plain and shortcut in (None, spec.default_shortcut)
    if usable:
        for entry in fitting:
            if _matches(entry, name):
                return entry
    what = f"a plain net ({spec.name})" if plain else (
        spec.name if usable else f"{spec.name} with shortcut {shortcut!r}")
    have = ", ".join(e.name for e in fitting) if fitting and usable else (
        "none (published weights fit the default shortcut B, not plain nets)" if fitting else "none")
    lead = "No official ImageNet weights exist" if name == "imagenet" else f"No published weights {name!r} exist"
    keras_nets = ", ".join(sorted(catalog.KERAS_HASHES))
    raise ValueError(f"{lead} for {what} (`weights='imagenet'` is keras.applications' {keras_nets}); "
                     f"weights that fit {spec.name}: {have}. Use `weights=None` or a path to a weights file.")


def transform_for(name: str) -> Transform:
    """The evaluation transform of the catalogue entry ``name`` (full name, e.g. ``"timm:resnet50.a1_in1k"``)."""
    entry = catalog.BY_NAME.get(name)
    if entry is None:
        raise ValueError(f"unknown weights {name!r}: expected a full catalogue name, one of {sorted(catalog.BY_NAME)}")
    return entry.transform


def check_weights_arg(spec: ResNetSpec, weights: Any, include_top: bool, classes: int,
                      plain: bool, shortcut: str) -> None:
    """Validate ``weights`` before building (keras.applications' rules, and the catalogue's names)."""
    if weights is None:
        return
    if is_name(weights):
        entry_for(spec, weights, plain=plain, shortcut=shortcut)
        if include_top and classes != 1000:
            raise ValueError(f"`weights={weights!r}` with `include_top=True` needs `classes=1000`; "
                             f"received classes={classes}")
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError("`weights` must be None, 'imagenet', a published name (python -m keras_resnet.weights "
                         f"lists them) or a path to a weights file; received weights={weights!r}")
    if not os.path.isfile(weights):
        raise FileNotFoundError(
            f"`weights` file not found: {weights!r} (expected None, 'imagenet', a published name such as "
            "'torchvision' or 'timm:resnet50.a1_in1k', or a path to a .h5 / .weights.h5 / .keras file or a "
            "PyTorch .safetensors / .pth checkpoint)"
        )
    if checkpoints.is_checkpoint(weights):
        checkpoints.check_readable(weights)


def fetch_entry(entry: catalog.Entry, include_top: bool = True) -> str:
    """The checked local copy of ``entry``'s file (downloaded once; keras.applications' without-top file if asked)."""
    if entry.source == "keras":
        fname = file_name(entry.net, include_top)
        digest = catalog.KERAS_HASHES[entry.net][0 if include_top else 1]
        return os.fspath(download.fetch(fname, catalog.KERAS_BASE_URL + fname, "md5", digest))
    return os.fspath(download.fetch(entry.file_name, entry.url, entry.check, entry.digest))


def local_file(spec: ResNetSpec, weights: str | os.PathLike, include_top: bool) -> str:
    """The file ``weights`` names: a named entry's checked download (fetched now, before any build), or the path."""
    return fetch_entry(entry_for(spec, weights), include_top=include_top) if is_name(weights) else os.fspath(weights)


def load(model: keras.Model, spec: ResNetSpec, weights: str | os.PathLike, include_top: bool,
         path: str | None = None) -> None:
    """Load ``weights`` (a name or a file; ``path``: its :func:`local_file`) into ``model``.

    Named weights also set ``model.transform``.
    """
    path_str = path or local_file(spec, weights, include_top=include_top)
    if checkpoints.is_checkpoint(path_str):
        checkpoints.load(model, path_str, include_top=include_top, avg_down=spec.avg_down)
    elif not path_str.endswith((".h5", ".hdf5", ".keras")):
        raise ValueError(
            f"`weights` file {path_str!r} must end in .h5, .hdf5, .weights.h5 or .keras "
            f"(Keras weights) or {', '.join(checkpoints.SUFFIXES)} (PyTorch checkpoints)"
        )
    else:
        try:
            model.load_weights(path_str)
        except (ValueError, OSError, KeyError) as err:
            raise ValueError(
                f"`weights` file {path_str!r} does not fit {model.name} "
                f"(include_top={include_top}) or is not a readable weights file: {err}"
            ) from err
    if is_name(weights):
        model.transform = entry_for(spec, weights).transform


_COLUMNS = ("name", "net", "variant", "top-1", "top-5", "size", "transform")


def table_rows(defaults: bool = False) -> list[tuple[str, ...]]:
    """One row per catalogue entry (``defaults``: the publishers' defaults only): name, net, variant, top-1,
    top-5, file size, transform."""
    return [(e.name + (" (default)" if e.default and e.source != "keras" else ""), e.net, e.variant,
             f"{e.top1:g}", f"{e.top5:g}", "-" if e.file_mb is None else f"{e.file_mb:g} MB",
             e.transform.describe()) for e in catalog.ENTRIES if e.default or not defaults]


def format_table(markdown: bool = False, defaults: bool = False) -> str:
    """The catalogue as aligned text, or as a Markdown table."""
    rows = table_rows(defaults=defaults)
    if markdown:
        lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"
    widths = [max(len(r[i]) for r in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in [_COLUMNS, *rows]) + "\n"


def main(argv: list[str]) -> None:
    from absl import flags

    if len(argv) > 1:
        raise SystemExit(f"error: unexpected arguments {argv[1:]}")
    sys.stdout.write(format_table(markdown=flags.FLAGS.markdown, defaults=flags.FLAGS.defaults))


if __name__ == "__main__":
    from absl import app, flags

    from keras_resnet.flagtypes import flags_parser

    flags.DEFINE_boolean("markdown", False, "Print the catalogue as the Markdown table of docs/weights.md.")
    flags.DEFINE_boolean("defaults", False, "Only the publishers' default weights of each net (the README's table).")
    app.run(main, flags_parser=flags_parser("python -m keras_resnet.weights"))
