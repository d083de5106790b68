"""``python -m keras_resnet.training``: the command line of :mod:`keras_resnet.training.cli`."""

from absl import app, flags

from keras_resnet import cpu
from keras_resnet.flagtypes import flags_parser
from keras_resnet.training import cli

if __name__ == "__main__":
    cpu.prefer_onednn()  # before TensorFlow is imported: see keras_resnet.cpu
    __doc__ = cli.__doc__  # absl's --help shows the main module's docstring and key flags
    cli.define_flags()
    flags.adopt_module_key_flags(cli)
    app.run(cli.main, flags_parser=flags_parser("python -m keras_resnet.training"))
