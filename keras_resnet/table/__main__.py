"""``python -m keras_resnet.table``: the command line of :mod:`keras_resnet.table.cli`."""

from absl import app, flags

from keras_resnet.flagtypes import flags_parser
from keras_resnet.table import cli

if __name__ == "__main__":
    __doc__ = cli.__doc__  # absl's --help shows the main module's docstring and key flags
    cli.define_flags()
    flags.adopt_module_key_flags(cli)
    app.run(cli.main, flags_parser=flags_parser(cli.PROG))
