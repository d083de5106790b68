"""Silence the native (C++) log lines of TensorFlow, the TFLite converter, LiteRT, absl and CUDA probing.

They are written straight to file descriptor 2 by libraries that load
before any setting can reach them (the ``WARNING: All log messages before
absl::InitializeLog()`` banner, ``cuInit`` errors on machines without a GPU,
the converter's per-variant lines), so ``TF_CPP_MIN_LOG_LEVEL`` alone does
not stop them. :func:`native_logs_silenced` points descriptor 2 at
``/dev/null`` and gives Python's ``sys.stderr`` (and the logging handlers
writing to it) a copy of the real descriptor: Python errors, warnings and
the command line's own messages still show; native ones do not. The command
lines (``python -m export``, ``python -m keras_resnet.training``) skip it with ``--verbose``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator


def _handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    return [handler for logger in loggers for handler in getattr(logger, "handlers", [])]


@contextlib.contextmanager
def native_logs_silenced() -> Iterator[None]:
    """Within the block, only Python writes reach stderr."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr = sys.stderr
    replacement = open(saved, "w", encoding=python_stderr.encoding or "utf-8", errors="backslashreplace",  # noqa: SIM115
                       buffering=1, closefd=False)
    moved = [h for h in _handlers() if isinstance(h, logging.StreamHandler) and h.stream is python_stderr]
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = replacement
    for handler in moved:
        handler.setStream(replacement)
    try:
        yield
    finally:
        replacement.flush()
        os.dup2(saved, 2)
        sys.stderr = python_stderr
        for handler in moved:
            handler.setStream(python_stderr)
        replacement.close()
        os.close(saved)
