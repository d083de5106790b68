"""``python -m keras_resnet.convert``: the command line of :mod:`keras_resnet.convert.cli`."""

from absl import app, flags

from keras_resnet.convert import cli
from keras_resnet.flagtypes import flags_parser

if __name__ == "__main__":
    __doc__ = cli.__doc__  # absl's --help shows the main module's docstring and key flags
    cli.define_flags()
    flags.adopt_module_key_flags(cli)
    app.run(cli.main, flags_parser=flags_parser(cli.PROG))
