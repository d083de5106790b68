"""What each LiteRT variant is converted from: its source SavedModel, made once, and its representative images.

See :mod:`export.variants` for the sources (``probabilities``, ``pixels``,
``qat``). A source is written on first use into a scratch folder and reused
by every later variant of the same source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from export import qat, savedmodel
from export.inputs import Inputs
from export.options import ExportOptions
from export.phases import Phases
from export.variants import Job


class Sources:
    """Source SavedModels and representative images for the jobs of one export."""

    def __init__(self, inputs: Inputs, options: ExportOptions, scratch: Path, phases: Phases) -> None:
        self.inputs, self.options, self.scratch, self.phases = inputs, options, scratch, phases
        self.paths: dict[str, Path] = {}
        self.qat_info: dict[str, Any] = {}

    def path(self, job: Job) -> Path:
        """The SavedModel ``job`` converts from, written now if it is the first of its source."""
        if job.source not in self.paths:
            self.paths[job.source] = self.scratch / job.source
            self._write(job, self.paths[job.source])
        return self.paths[job.source]

    def _write(self, job: Job, path: Path) -> None:
        model, options = self.inputs.model, self.options
        if job.variant.source == "qat":
            with self.phases(f"{job.source} fine-tune"):
                fine_tuning = self.inputs.train.take(options.qat.samples, options.seed)
                trained = qat.fine_tune(self.inputs.twins[job.granularity], fine_tuning, options.qat, options.seed,
                                        per_axis=job.granularity == "per_channel")
            self.qat_info.update({"samples": len(fine_tuning), f"history{job.suffix}": trained.history})
            model = trained.model
        with self.phases(f"source SavedModel {job.source}"):
            if job.variant.source == "pixels":
                savedmodel.write_pixels_model(model, path, *self.inputs.normalization)
            else:
                savedmodel.write_probabilities_model(model, path)

    def representative(self, job: Job) -> np.ndarray | None:
        """``job``'s calibration images (model-ready or as 0-255 pixels), or ``None``."""
        if job.variant.representative is None:
            return None
        images = self.inputs.train.take(self.options.calibration.steps, self.options.seed).x
        return self.inputs.preprocessing.pixels(images) if job.variant.representative == "pixels" else images
