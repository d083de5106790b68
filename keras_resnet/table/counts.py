"""The family like the paper's Table 1: layers, parameters and MACs of every net (:func:`rows`), as
Markdown or CSV (:func:`render`).

Counts are read off the built Keras graphs (:mod:`keras_resnet.analysis`) at
each net's default input size (224x224 ImageNet, 32x32 CIFAR), for the
residual net and its plain twin (§4.1). Keras is imported only when the nets
are built, so that the command line checks its flags first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from keras_resnet.specs import SPECS

FORMATS = ("markdown", "csv")
COLUMNS = ("model", "family", "variant", "blocks", "layers", "shortcut", "params", "trainable_params", "macs")


def rows(models: Iterable[str] | None = None, plain: bool = True) -> list[dict[str, object]]:
    """One row per net (and plain twin): the columns of :data:`COLUMNS`."""
    names = list(SPECS) if models is None else list(models)
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise ValueError(f"`models` must be names from {list(SPECS)}; unknown: {unknown}")
    import keras

    from keras_resnet.analysis import count_macs, count_trainable_params, count_weighted_layers
    from keras_resnet.models import BUILDERS

    out = []
    for name in names:
        spec = SPECS[name]
        family = f"{spec.stem}{' pre-act' if spec.preact else ''} {spec.block}"
        for is_plain in (False, True) if plain else (False,):
            model = BUILDERS[name](plain=is_plain)
            out.append({
                "model": model.name,
                "family": family,
                "variant": spec.variant if spec.stem == "imagenet" else "—",
                "blocks": "x".join(map(str, spec.blocks)),
                "layers": count_weighted_layers(model),
                "shortcut": "none" if is_plain else spec.default_shortcut,
                "params": model.count_params(),
                "trainable_params": count_trainable_params(model),
                "macs": count_macs(model),
            })
            keras.backend.clear_session()
    return out


def _human(n: int) -> str:
    return f"{n / 1e9:.2f}G" if n >= 1e9 else f"{n / 1e6:.2f}M"


def render(table: list[dict[str, object]], fmt: str = "markdown") -> str:
    """Render :func:`rows` as a markdown table or CSV."""
    if fmt not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}; received {fmt!r}")
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)
        return buf.getvalue()
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in table:
        cells = [f"{row[c]:,}" if c.endswith("params") else row[c] for c in COLUMNS]
        cells[-1] = f"{_human(row['macs'])}"
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
