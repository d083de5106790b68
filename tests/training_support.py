"""``python -m keras_resnet.training`` in the test's own process, for tests about what the command does rather than
about a fresh process (those run it as a subprocess: tests/training/test_training.py)."""

from __future__ import annotations

from absl import flags

from keras_resnet.flagtypes import flags_parser
from keras_resnet.training import cli

PROG = "python -m keras_resnet.training"


def run_training_cli(*args: str) -> int:
    """Parse ``args`` on fresh flags as the command line does and run its main; the exit status."""
    fv = flags.FlagValues()
    cli.define_flags(fv)
    return cli.main(flags_parser(PROG, fv)([PROG, *args]), fv)
