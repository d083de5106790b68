"""Each artifact measured against the Keras model on the evaluation data: one report row each."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np

from export import retention_report
from export.data import Data
from export.phases import Phases


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Checker:
    """The rows of the retention report, the Keras model's first."""

    def __init__(self, reference: np.ndarray, evaluation: Data, threads: tuple[int, ...], latency_runs: int,
                 root: Path, phases: Phases) -> None:
        self.reference = reference  # the Keras model's probabilities on the evaluation images
        self.evaluation = evaluation
        self.threads = threads
        self.latency_runs = latency_runs
        self.root = root
        self.phases = phases
        self.rows = [self._row(retention_report.KERAS, "", None, self.reference, {})]

    def _row(self, label: str, path: str, size: int | None, probabilities: np.ndarray,
             latency: dict[str, float]) -> retention_report.Row:
        return retention_report.measure(label, path, size, probabilities, self.reference, self.evaluation.y, latency)

    def add(self, label: str, path: Path, probabilities: np.ndarray, latency: dict[str, float] | None = None,
            size: bool = True) -> None:
        """Add the row of the artifact at ``path`` (under ``root``) that gave ``probabilities``."""
        self.rows.append(self._row(label, str(path.relative_to(self.root)), _size(path) if size else None,
                                   probabilities, latency or {}))

    def add_file(self, label: str, path: Path, runtime: ModuleType, images: np.ndarray | None = None) -> None:
        """Run a LiteRT or ONNX file in its ``runtime`` (a module with ``predict`` and ``latency_ms``) on
        ``images`` (default: the evaluation data), time it at batch 1 and add its row."""
        images = self.evaluation.x if images is None else images
        with self.phases(f"check {label}"):
            probabilities = runtime.predict(path, images, max(self.threads))
        with self.phases(f"latency {label}"):
            latency = {str(t): runtime.latency_ms(path, images[0], t, self.latency_runs) for t in self.threads}
        self.add(label, path, probabilities, latency)
