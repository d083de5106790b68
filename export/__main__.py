"""``python -m export``: see :mod:`export.cli` (TensorFlow is imported only once the flags have been checked)."""

from absl import app, flags

from export import cli

if __name__ == "__main__":
    cli.define_flags()
    flags.adopt_module_key_flags(cli)  # list the export flags in --help
    app.run(cli.main)
