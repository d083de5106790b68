"""The export's names and argument checks that need no TensorFlow (the CLI rejects bad flags with them first)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from export import staging
from export.errors import ExportError

FORMATS = ("savedmodel", "tflite")
VARIANTS = ("fp32", "dynamic", "fp16", "int8", "uint8", "qat")  # see export.tflite
INT8_IO_VARIANTS = ("int8", "qat")


def choices(argument: str, values: Sequence[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``values`` in ``allowed``'s order; an unknown or empty selection is an error naming ``argument``."""
    values = tuple(values)
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise ExportError(argument, f"unknown name(s) {unknown or values!r}; choose from {allowed}")
    return tuple(v for v in allowed if v in values)


def positive(**values: float) -> None:
    """Each keyword's value must be > 0."""
    for argument, value in values.items():
        if not value > 0:
            raise ExportError(argument, f"must be positive; received {value!r}")


def thread_counts(threads: Sequence[int]) -> tuple[int, ...]:
    """LiteRT thread counts: at least one, each >= 1."""
    threads = tuple(threads)
    if not threads or min(threads) < 1:
        raise ExportError("threads", f"need thread counts >= 1; received {threads!r}")
    return threads


def check_arguments(formats: Sequence[str], quantizations: Sequence[str], threads: Sequence[int],
                    output_dir: str | os.PathLike, overwrite: bool, **positives: float | None
                    ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...]]:
    """Every check of the arguments alone (no model, no data): ``(formats, variants, threads)``.

    ``positives`` are numbers that must be > 0 (``None``: not given).
    """
    formats = choices("formats", formats, FORMATS)
    variants = choices("quantizations", quantizations, VARIANTS) if "tflite" in formats else ()
    positive(**{name: value for name, value in positives.items() if value is not None})
    threads = thread_counts(threads)
    staging.check_destination(Path(output_dir).absolute(), overwrite)
    return formats, variants, threads
