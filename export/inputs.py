"""Everything an export needs, loaded and checked before anything is written: model, data, class names, QAT twin."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from export import model_file, model_io, qat
from export.data import Data, dataset_data, dataset_images, dataset_source, load_data, load_labels
from export.errors import ExportError
from export.options import ExportData, ExportOptions
from export.phases import Phases
from export.serving_preprocessing import Preprocessing, resolve
from export.variants import VARIANTS, jobs
from keras_resnet.datasets import Source
from keras_resnet.training.config import read_run_config

PROBABILITY_TOLERANCE = 1e-3
PREDICT_BATCH = 256
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclasses.dataclass(frozen=True)
class Inputs:
    """The loaded model and what it is measured on (see :func:`prepare`)."""

    model: Any  # keras.Model
    name: str
    shape: tuple[int, int, int]
    labels: list[str]
    evaluation: Data
    reference: np.ndarray  # the Keras model's probabilities on the evaluation images
    train: Data | None
    preprocessing: Preprocessing
    originals: list[np.ndarray]  # uint8 images for the image_bytes rows
    originals_source: str | None
    twins: dict[str, Any] = dataclasses.field(default_factory=dict)  # granularity -> tf_keras rebuild, for QAT
    rebuild_diff: float | None = None  # the largest of the twins' max abs diffs from the model

    @property
    def normalization(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` per channel on 0-255 pixels."""
        return self.preprocessing.pixel_normalization(self.shape[2])


def prepare(model: model_io.ModelSource, options: ExportOptions, data: ExportData, phases: Phases) -> Inputs:
    """Load and check the model, the data and the names; predict the evaluation images with the model once (the
    reference every artifact is compared with); rebuild the QAT twins, one per granularity (a model tf_keras
    cannot rebuild fails here, before anything is written). A model file's training run record (``config.json``
    beside it) sets the ``image_bytes`` resize rule and how a dataset named by ``data`` is read and prepared."""
    with phases("load"):
        model_path = Path(model) if isinstance(model, (str, os.PathLike)) else None
        if model_path is not None:
            model_file.check(model_path, options.custom_modules)
        model_io.import_custom_modules(options.custom_modules)
        model = model_io.load_model(model)
        run = None if model_path is None else read_run_config(model_path)
    name = options.model_name or model.name
    if not _NAME.match(name):
        raise ExportError("model_name", f"must be letters, digits, '.', '_' or '-'; received {name!r}")
    classes, shape = model_io.num_classes(model), model_io.image_shape(model)
    if options.top_k > classes:
        raise ExportError("top_k", f"must be at most the {classes} classes; received {options.top_k}")
    with phases("data"):
        dataset = _dataset(data, run)
        preprocessing = resolve(options.preprocessing, run, data.dataset, shape[0])
        preprocessing.check(shape[2])
        labels, evaluation, train = _data(model, options, data, dataset, preprocessing)
        originals, originals_source = ([], None) if "savedmodel" not in options.formats else _originals(
            data.dataset, dataset, evaluation, preprocessing)
    with phases("check keras"):
        reference = model.predict(evaluation.x, verbose=0, batch_size=PREDICT_BATCH)
        _check_probabilities(reference)
    twins, diffs = {}, []
    for job in jobs(tuple(_fine_tuned(options)), options.int8_granularity):
        with phases(f"{job.source} rebuild"):
            twins[job.granularity], diff = qat.rebuild_checked(
                model, evaluation.x[:PREDICT_BATCH], reference[:PREDICT_BATCH], fold=job.granularity == "per_tensor")
        diffs.append(diff)
    return Inputs(model, name, shape, labels, evaluation, reference, train, preprocessing, originals,
                  originals_source, twins, max(diffs, default=None))


def _check_probabilities(probabilities: np.ndarray) -> None:
    if probabilities.min() < 0 or np.abs(probabilities.sum(axis=1) - 1).max() > PROBABILITY_TOLERANCE:
        raise ExportError("model", "its output must be class probabilities (rows >= 0 summing to 1, e.g. softmax)")


def _calibrated(options: ExportOptions) -> list[str]:
    """The selected variants that need representative images."""
    return [name for name in options.variants if VARIANTS[name].representative]


def _fine_tuned(options: ExportOptions) -> list[str]:
    """The selected variants that need labelled images to fine-tune (QAT)."""
    return [name for name in options.variants if VARIANTS[name].source == "qat"]


def _train_samples(options: ExportOptions) -> int:
    """Training images the variants need: only the representative images and QAT's fine-tuning images."""
    return max(options.qat.samples if _fine_tuned(options) else 0,
               options.calibration.steps if _calibrated(options) else 0)


def _dataset(data: ExportData, run: dict[str, Any] | None) -> Source | None:
    """The dataset ``data`` names (read as the training ``run`` read it), or ``None``."""
    if data.dataset is None:
        return None
    if data.eval_data is not None or data.calibration_data is not None:
        raise ExportError("dataset", "give either a dataset or eval_data/calibration_data, not both")
    return dataset_source(data.dataset, run)


def _data(model: Any, options: ExportOptions, data: ExportData, dataset: Source | None,
          preprocessing: Preprocessing) -> tuple[list[str], Data, Data | None]:
    """Class names, evaluation data and calibration data (from ``dataset`` when ``data`` names one), validated
    against the model."""
    shape, classes = model_io.image_shape(model), model_io.num_classes(model)
    eval_data, calibration_data, labels = data.eval_data, data.calibration_data, data.labels
    if dataset is not None:
        eval_data, calibration_data, dataset_labels = dataset_data(dataset, preprocessing, shape,
                                                                   options.eval_samples, _train_samples(options))
        labels = dataset_labels if labels is None else labels
    names = load_labels(labels, classes)
    evaluation = load_data("eval_data", eval_data, shape, classes, need_labels=True,
                           required_for="the retention report (or give a dataset)")
    if options.eval_samples:
        evaluation = Data(evaluation.x[:options.eval_samples], evaluation.y[:options.eval_samples])
    needs = " and ".join(_calibrated(options) + _fine_tuned(options))
    train = load_data("calibration_data", calibration_data, shape, classes, need_labels=bool(_fine_tuned(options)),
                      required_for=needs and f"the {needs} variant(s)")
    if _calibrated(options) and options.calibration.steps > len(train):
        raise ExportError("calibration_steps", f"{options.calibration.steps} exceeds the {len(train)} calibration "
                          "images")
    return names, evaluation, train


def _originals(name: str | None, dataset: Source | None, evaluation: Data,
               preprocessing: Preprocessing) -> tuple[list[np.ndarray], str]:
    """uint8 images for the ``image_bytes`` rows: the dataset's own test images, else the evaluation arrays' pixels."""
    if dataset is not None:
        return dataset_images(dataset, len(evaluation)), f"the {name} test images as stored (before resizing)"
    pixels = np.clip(np.round(preprocessing.pixels(evaluation.x)), 0, 255).astype(np.uint8)
    return list(pixels), "the evaluation arrays as 0-255 pixels (model-size images)"
