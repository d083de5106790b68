"""``python -m export``: see :mod:`export.cli` (TensorFlow is imported only once the flags have been checked)."""

from absl import app, flags

from export import cli
from keras_resnet import cpu

if __name__ == "__main__":
    cpu.prefer_onednn()  # before TensorFlow is imported: see keras_resnet.cpu
    cli.define_flags()
    flags.adopt_module_key_flags(cli)  # list the export flags in --help
    app.run(cli.main)
