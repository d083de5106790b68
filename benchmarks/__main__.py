"""Entry point: ``python -m benchmarks [--tiny]`` (see :mod:`benchmarks.cli`)."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.cli import main  # noqa: E402 - after quieting TensorFlow

sys.exit(main())
