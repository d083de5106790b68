"""Entry point: ``python -m benchmarks [--tiny]`` (see :mod:`benchmarks.cli`)."""

import os
import sys

if __name__ == "__main__":  # not when a forked benchmark worker imports the parent's main module
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from benchmarks.cli import main  # after quieting TensorFlow

    sys.exit(main())
