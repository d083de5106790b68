"""``python -m export``: see :mod:`export.cli`."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

from absl import app, flags  # noqa: E402

from export import cli  # noqa: E402

if __name__ == "__main__":
    cli.define_flags()
    flags.adopt_module_key_flags(cli)  # list the export flags in --help
    app.run(cli.main)
