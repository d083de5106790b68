"""Regenerate ``imagenet_classes.tsv``: ImageNet-1k ``wnid<TAB>name`` in index order.

Sources:

* ``labels.txt`` from tensorflow-datasets
  (``tensorflow_datasets/datasets/imagenet2012/labels.txt``): one wnid per line,
  in the standard ImageNet-1k class index order.
* ``imagenet_synset_to_lemma.txt`` from the timm wheel
  (``timm/data/_info/imagenet_synset_to_lemma.txt``): ``wnid<TAB>lemma, lemma, ...``.

The name of each class is its first lemma with spaces replaced by underscores,
as in keras.applications' ``imagenet_class_index.json`` (e.g. ``golden_retriever``).

Usage::

    python keras_resnet/data/make_imagenet_classes.py LABELS_TXT LEMMA_TXT [-o OUT]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

NUM_CLASSES = 1000


def read_wnids(path: Path) -> list[str]:
    """Return the wnids of ``labels.txt``, in file order."""
    wnids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    wnids = [w for w in wnids if w]
    if len(wnids) != NUM_CLASSES or len(set(wnids)) != NUM_CLASSES:
        raise ValueError(
            f"{path}: expected {NUM_CLASSES} unique wnids, got {len(wnids)}"
        )
    return wnids


def read_names(path: Path) -> dict[str, str]:
    """Map each wnid of the lemma file to its first lemma, spaces as underscores."""
    names: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        wnid, lemmas = line.split("\t", 1)
        names[wnid.strip()] = lemmas.split(",")[0].strip().replace(" ", "_")
    return names


def build_lines(wnids: list[str], names: dict[str, str]) -> list[str]:
    """Return the ``wnid<TAB>name`` lines for ``wnids``."""
    missing = [w for w in wnids if not names.get(w)]
    if missing:
        raise ValueError(f"no lemma for wnids: {missing}")
    return [f"{w}\t{names[w]}" for w in wnids]


def write_atomic(path: Path, lines: list[str]) -> None:
    """Write ``lines`` to a temp file beside ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and write the class file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "labels", type=Path, help="tensorflow-datasets imagenet2012/labels.txt"
    )
    parser.add_argument("lemmas", type=Path, help="timm imagenet_synset_to_lemma.txt")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path(__file__).with_name("imagenet_classes.tsv"),
        help="output file (default: imagenet_classes.tsv beside this script)",
    )
    args = parser.parse_args(argv)
    lines = build_lines(read_wnids(args.labels), read_names(args.lemmas))
    write_atomic(args.output, lines)


if __name__ == "__main__":
    main()
