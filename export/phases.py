"""Wall time of each phase of an export (load, SavedModel, each conversion, each check, ...), for the report."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

log = logging.getLogger(__name__)


class Phases:
    """Seconds per named phase, in the order they first ran; a phase run twice adds up."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._started = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        """Time the block as phase ``name``."""
        log.info("%s", name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 2)

    def total(self) -> float:
        """Seconds since these phases were created."""
        return round(time.perf_counter() - self._started, 1)
