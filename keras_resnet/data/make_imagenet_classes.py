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

    python -m keras_resnet.data.make_imagenet_classes LABELS_TXT LEMMA_TXT [--output=OUT]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from absl import app, flags

from keras_resnet.flagtypes import flags_parser, usage_error
from keras_resnet.io import atomic_path

NUM_CLASSES = 1000
PROG = "python -m keras_resnet.data.make_imagenet_classes"


def read_wnids(path: Path) -> list[str]:
    """Return the wnids of ``labels.txt``, in file order."""
    wnids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    wnids = [w for w in wnids if w]
    if len(wnids) != NUM_CLASSES or len(set(wnids)) != NUM_CLASSES:
        raise ValueError(f"{path}: expected {NUM_CLASSES} unique wnids, got {len(wnids)}")
    return wnids


def read_names(path: Path) -> dict[str, str]:
    """Map each wnid of the lemma file to its first lemma, spaces as underscores."""
    names: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise ValueError(f"{path}: line {number} is not wnid<TAB>lemmas: {line!r}")
        wnid, lemmas = line.split("\t", 1)
        names[wnid.strip()] = lemmas.split(",")[0].strip().replace(" ", "_")
    return names


def build_lines(wnids: list[str], names: dict[str, str]) -> list[str]:
    """Return the ``wnid<TAB>name`` lines for ``wnids``."""
    missing = [w for w in wnids if not names.get(w)]
    if missing:
        raise ValueError(f"no lemma for wnids: {missing}")
    return [f"{w}\t{names[w]}" for w in wnids]


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Define ``--output`` in ``fv`` (the two source files are positional)."""
    flags.DEFINE_string("output", str(Path(__file__).with_name("imagenet_classes.tsv")),
                        "Output file (default: imagenet_classes.tsv beside this module).", short_name="o",
                        flag_values=fv)


def main(argv: Sequence[str], fv: flags.FlagValues = flags.FLAGS) -> int:
    """Write the class file from the two source files of ``argv``; returns the exit status."""
    if len(argv) != 3:
        usage_error(PROG, f"expected LABELS_TXT and LEMMA_TXT; received {list(argv[1:])}")
    for name, path in zip(("LABELS_TXT", "LEMMA_TXT"), argv[1:], strict=True):
        if not Path(path).is_file():
            usage_error(PROG, f"{name} file not found: {path!r}")
    try:
        lines = build_lines(read_wnids(Path(argv[1])), read_names(Path(argv[2])))
    except ValueError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    with atomic_path(fv.output) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    define_flags()
    app.run(main, flags_parser=flags_parser(PROG))
