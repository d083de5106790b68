"""What each LiteRT variant is converted from: its source SavedModel, made once, and its representative images.

See :mod:`export.variants` for the sources (``probabilities``, ``pixels``,
``qat``). A source is written on first use into a scratch folder and reused
by every later variant of the same source; QAT fine-tunes once per weight
granularity (per-tensor files need per-tensor fake quantization).
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
        per_tensor = job.variant.source == "qat" and job.granularity == "per_tensor"
        key = job.variant.source + ("_per_tensor" if per_tensor else "")
        if key not in self.paths:
            self.paths[key] = self.scratch / key
            self._write(key, job.variant.source, per_tensor, self.paths[key])
        return self.paths[key]

    def _write(self, key: str, source: str, per_tensor: bool, path: Path) -> None:
        model, options = self.inputs.model, self.options
        if source == "qat":
            with self.phases(f"qat fine-tune{' per_tensor' if per_tensor else ''}"):
                fine_tuning = self.inputs.train.take(options.qat.samples, options.seed)
                trained = qat.fine_tune(self.inputs.twin, fine_tuning, options.qat, options.seed, per_tensor)
            self.qat_info.setdefault("samples", len(fine_tuning))
            self.qat_info[f"history{'_per_tensor' if per_tensor else ''}"] = trained.history
            model = trained.model
        with self.phases(f"source SavedModel {key}"):
            if source == "pixels":
                savedmodel.write_pixels_model(model, path, *self.inputs.normalization)
            else:
                savedmodel.write_probabilities_model(model, path)

    def representative(self, job: Job) -> np.ndarray | None:
        """``job``'s calibration images (model-ready or as 0-255 pixels), or ``None``."""
        if job.variant.representative is None:
            return None
        images = self.inputs.train.take(self.options.calibration.steps, self.options.seed).x
        return self.inputs.preprocessing.pixels(images) if job.variant.representative == "pixels" else images
