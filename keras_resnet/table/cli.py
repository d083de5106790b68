"""Command line: ``python -m keras_resnet.table [--models=resnet20,resnet50] [--format=markdown|csv] [--noplain]``.

Prints :func:`keras_resnet.table.rows` (layers, parameters and MACs of every
net and its plain twin, like the paper's Table 1) rendered by
:func:`keras_resnet.table.render`. Flags are checked before Keras is imported:
a bad one exits with status 2 and one line naming it.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import flags

from keras_resnet.flagtypes import choice, define_list, usage_error
from keras_resnet.specs import SPECS
from keras_resnet.table.counts import FORMATS, render, rows

PROG = "python -m keras_resnet.table"


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Define the table flags in ``fv``."""
    define_list("models", None, choice(list(SPECS)), "Nets to list (default: all).", flag_values=fv,
                kind=f"net names ({', '.join(SPECS)})")
    flags.DEFINE_enum("format", "markdown", list(FORMATS), "Output format.", flag_values=fv)
    flags.DEFINE_bool("plain", True, "Also list each net's plain twin; --noplain: the residual nets only.",
                      flag_values=fv)


def main(argv: Sequence[str], fv: flags.FlagValues = flags.FLAGS) -> None:
    """Print the table the parsed flags ``fv`` describe."""
    if len(argv) > 1:
        usage_error(PROG, f"unexpected arguments: {' '.join(argv[1:])}")
    print(render(rows(fv.models, plain=fv.plain), fv.format), end="")
