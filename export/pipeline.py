"""One call from a Keras model to every artifact and the retention report.

Output folder (written atomically, see :mod:`export.staging`)::

    OUT/<model_name>/<version>/      TF Serving SavedModel (serving_default, image_bytes)
    OUT/tflite/<model_name>_<variant>.tflite   with TFLite metadata (see export.metadata)
    OUT/tflite/labels.txt            class names, one a line, in output order
    OUT/report.md, report.json, report.png

All arguments are checked (and the model loaded, the data validated and, for
QAT, the tf_keras rebuild verified) before anything is written.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from export import litert_check, metadata, model_file, model_io, qat, report, savedmodel, staging, tflite
from export.choices import FORMATS, check_arguments
from export.choices import VARIANTS as QUANTIZATIONS
from export.data import Data, DataSource, dataset_data, dataset_images, load_data, load_labels
from export.errors import ExportError
from export.preprocessing import Preprocessing, resolve

PROBABILITY_TOLERANCE = 1e-3
CALIBRATED = ("int8", "uint8")  # variants that need a representative dataset
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

log = logging.getLogger(__name__)


def _check_probabilities(model: Any, images: np.ndarray) -> None:
    sample = model.predict(images[:8], verbose=0)
    if sample.min() < 0 or np.abs(sample.sum(axis=1) - 1).max() > PROBABILITY_TOLERANCE:
        raise ExportError("model", "its output must be class probabilities (rows >= 0 summing to 1, e.g. softmax)")


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def export_model(
    model: model_io.ModelSource,
    output_dir: str | os.PathLike,
    *,
    eval_data: DataSource | None = None,
    calibration_data: DataSource | None = None,
    dataset: str | None = None,
    eval_samples: int | None = None,
    formats: Sequence[str] = FORMATS,
    quantizations: Sequence[str] = QUANTIZATIONS,
    model_name: str | None = None,
    version: int = 1,
    labels: Sequence[str] | str | os.PathLike | None = None,
    top_k: int = 5,
    preprocessing: Preprocessing | None = None,
    calibration_steps: int = 100,
    int8_io: bool = False,
    metadata: bool = True,
    qat_epochs: int = 2,
    qat_samples: int = 4096,
    qat_batch_size: int = 64,
    qat_learning_rate: float = 1e-5,
    qat_freeze_batch_norm: bool = True,
    latency_runs: int = 50,
    threads: Sequence[int] = (1, 2),
    custom_modules: Sequence[str] = (),
    overwrite: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """Export ``model`` to ``output_dir`` and return the retention report (also written there).

    Args:
        model: A Keras 3 classifier (image batch -> class probabilities) or
            the path of a ``.keras`` file (loaded with ``safe_mode=True``).
        output_dir: Folder to create (see the module docstring).
        eval_data: Labelled, model-ready evaluation images (``(x, y)`` or a
            ``.npz`` with ``x``, ``y``; see :mod:`export.data`); every
            artifact is compared with the Keras model on them.
        calibration_data: Model-ready training images: the representative
            dataset of ``int8`` and, with labels, the fine-tuning data of ``qat``.
        dataset: Instead of ``eval_data`` and ``calibration_data``: a dataset
            read with ``keras_resnet.datasets`` (test split for evaluation,
            train split for calibration; its class names are the default
            ``labels``), for models trained with ``keras_resnet``.
        eval_samples: Evaluate on the first ``eval_samples`` images only
            (default: all).
        formats: Any of ``"savedmodel"``, ``"tflite"``.
        quantizations: TFLite variants, any of ``fp32``, ``dynamic``,
            ``fp16``, ``int8``, ``uint8``, ``qat`` (see :mod:`export.tflite`).
        model_name: Name of the SavedModel folder and TFLite files;
            default: the model's name.
        version: TF Serving version folder (a positive integer).
        labels: Class names (a sequence or a file, one a line); default ``0..classes-1``.
        top_k: Number of best classes the SavedModel returns.
        preprocessing: How ``image_bytes`` prepares encoded images, and the
            pixel normalisation the TFLite metadata declares (see
            :mod:`export.preprocessing`); default: ``resize="auto"`` (the
            training run's rule when its ``config.json`` lies beside the
            model file, else scale the shorter side to ``size / 0.875`` and
            centre-crop), raw pixel values (0-255) as float32.
        calibration_steps: Representative images (one per step) for ``int8`` and ``uint8``.
        int8_io: Give ``int8`` and ``qat`` files int8 inputs and outputs.
        metadata: Write TFLite metadata (normalisation, image properties,
            embedded labels; see :mod:`export.metadata`) into every TFLite file.
        qat_epochs: QAT fine-tuning epochs.
        qat_samples: Training images (drawn from ``calibration_data``) per QAT epoch.
        qat_batch_size: QAT batch size.
        qat_learning_rate: QAT Adam learning rate.
        qat_freeze_batch_norm: Keep batch norms in inference mode with their
            trained statistics during QAT (see :mod:`export.qat`).
        latency_runs: Batch-1 invocations whose median is the latency.
        threads: LiteRT thread counts to time.
        custom_modules: Modules to import first: they register the model's
            custom layers (and may provide ``tf_keras_custom_objects()``, see
            :mod:`export.tf_keras_rebuild`).
        overwrite: Replace an existing ``output_dir``.
        seed: Seed of the calibration/QAT sampling and fine-tuning.
    """
    started = time.perf_counter()
    formats, variants, threads = check_arguments(
        formats, quantizations, threads, output_dir, overwrite, version=version, top_k=top_k,
        calibration_steps=calibration_steps, qat_epochs=qat_epochs, qat_samples=qat_samples,
        qat_batch_size=qat_batch_size, qat_learning_rate=qat_learning_rate, latency_runs=latency_runs,
        eval_samples=eval_samples)
    model_path = Path(model) if isinstance(model, (str, os.PathLike)) else None
    if model_path is not None:
        model_file.check(model_path, custom_modules)

    model_io.import_custom_modules(custom_modules)
    model = model_io.load_model(model)
    model_name = model_name or model.name
    if not _NAME.match(model_name):
        raise ExportError("model_name", f"must be letters, digits, '.', '_' or '-'; received {model_name!r}")
    if top_k > model_io.num_classes(model):
        raise ExportError("top_k", f"must be at most the {model_io.num_classes(model)} classes; received {top_k}")
    shape = model_io.image_shape(model)
    preprocessing = resolve(preprocessing or Preprocessing(), model_path)
    preprocessing.check(shape[2])
    calibrated = [v for v in variants if v in CALIBRATED]
    train_samples = max(qat_samples if "qat" in variants else 0, calibration_steps if calibrated else 0)
    names, evaluation, train = _data(model, variants, dataset, eval_data, calibration_data, labels, eval_samples,
                                     train_samples)
    if calibrated and calibration_steps > len(train):
        raise ExportError("calibration_steps", f"{calibration_steps} exceeds the {len(train)} calibration images")
    _check_probabilities(model, evaluation.x)

    twin = rebuild_diff = None
    if "qat" in variants:  # before writing anything: a model tf_keras cannot rebuild fails early
        log.info("rebuilding %s in tf_keras for QAT", model_name)
        twin, rebuild_diff = qat.rebuild_checked(model, evaluation.x[:256])
    originals, originals_source = ([], None) if "savedmodel" not in formats else _originals(
        dataset, evaluation, preprocessing)
    info: dict[str, Any] = {
        "model_name": model_name, "version": version, "labels": names, "eval_samples": len(evaluation),
        "latency_runs": latency_runs, "threads": list(threads), "int8_io": int8_io, "metadata": metadata,
        "calibration_steps": calibration_steps, "preprocessing": dataclasses.asdict(preprocessing),
        "image_bytes_source": originals_source,
    }
    mean, std = preprocessing.pixel_normalization(shape[2])
    with staging.staged(output_dir, overwrite) as out, tempfile.TemporaryDirectory() as scratch:
        checker = _Checker(model, evaluation, threads, latency_runs, out)
        info["keras_accuracy"] = checker.rows[0].accuracy
        if "savedmodel" in formats:
            log.info("writing the TF Serving SavedModel")
            serving = out / model_name / str(version)
            savedmodel.write_serving_model(model, serving, names, top_k, preprocessing)
            checker.add(report.SAVEDMODEL, serving, savedmodel.predict(serving, evaluation.x))
            for image_format in savedmodel.ENCODINGS:
                encoded = savedmodel.encode(originals, image_format)
                checker.add(f"{report.IMAGE_BYTES} {image_format}", serving,
                            savedmodel.predict_encoded(serving, encoded), size=False)
        if variants:
            (out / "tflite").mkdir()
            (out / "tflite" / "labels.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
            keras_source = Path(scratch) / "keras"
            savedmodel.write_probabilities_model(model, keras_source)
        for variant in variants:
            source, representative = keras_source, None
            if variant == "int8":
                representative = train.take(calibration_steps, seed).x
            if variant == "uint8":
                representative = preprocessing.pixels(train.take(calibration_steps, seed).x)
                source = Path(scratch) / "pixels"
                savedmodel.write_pixels_model(model, source, mean, std)
            if variant == "qat":
                log.info("quantization-aware training")
                fine_tuning = train.take(qat_samples, seed)
                trained = qat.fine_tune(twin, fine_tuning, qat_epochs, qat_batch_size, qat_learning_rate, seed,
                                        qat_freeze_batch_norm)
                info["qat"] = {"rebuild_max_abs_diff": rebuild_diff, "epochs": qat_epochs,
                               "samples": len(fine_tuning), "batch_size": qat_batch_size,
                               "learning_rate": qat_learning_rate, "freeze_batch_norm": qat_freeze_batch_norm,
                               "history": trained.history}
                source = Path(scratch) / "qat"
                savedmodel.write_probabilities_model(trained.model, source)
            log.info("converting and checking the %s TFLite file", variant)
            path = out / "tflite" / f"{model_name}_{variant}.tflite"
            converted = tflite.convert(source, variant, representative, int8_io)
            if metadata:
                converted = _with_metadata(converted, variant, model_name, version, shape, names, mean, std)
            path.write_bytes(converted)
            checker.add_tflite(variant, path, preprocessing.pixels(evaluation.x) if variant == "uint8" else None)
        info["wall_time_s"] = round(time.perf_counter() - started, 1)
        result = report.build(checker.rows, info)
        report.write(result, out)
    return result


def _with_metadata(converted: bytes, variant: str, model_name: str, version: int, shape: tuple[int, int, int],
                   names: list[str], mean: np.ndarray, std: np.ndarray) -> bytes:
    """``converted`` with TFLite metadata: integer (uint8) inputs take pixels as they are, float ones normalised."""
    height, width, channels = shape
    camera = variant == "uint8"
    description = (f"{model_name}: image classifier, {len(names)} classes, {height}x{width} "
                   f"{'RGB' if channels == 3 else 'grey'} input; LiteRT variant {variant}"
                   + (" (uint8 pixels 0-255 in, normalisation inside)." if camera else "."))
    info = metadata.ImageClassifierInfo(
        name=model_name, description=description, version=str(version), height=height, width=width,
        channels=channels, labels=names, mean=None if camera else mean.tolist(), std=None if camera else std.tolist())
    return metadata.populate(converted, info)


def _originals(dataset: str | None, evaluation: Data, preprocessing: Preprocessing) -> tuple[list[np.ndarray], str]:
    """uint8 images for the ``image_bytes`` rows: the dataset's own test images, else the evaluation arrays' pixels."""
    if dataset is not None:
        return dataset_images(dataset, len(evaluation)), f"the {dataset} test images as stored (before resizing)"
    pixels = np.clip(np.round(preprocessing.pixels(evaluation.x)), 0, 255).astype(np.uint8)
    return list(pixels), "the evaluation arrays as 0-255 pixels (model-size images)"


def _data(model: Any, variants: tuple[str, ...], dataset: str | None, eval_data: DataSource | None,
          calibration_data: DataSource | None, labels: Any, eval_samples: int | None,
          train_samples: int) -> tuple[list[str], Data, Data | None]:
    """Class names, evaluation data and calibration data, validated against the model."""
    shape, classes = model_io.image_shape(model), model_io.num_classes(model)
    if dataset is not None:
        if eval_data is not None or calibration_data is not None:
            raise ExportError("dataset", "give either a dataset or eval_data/calibration_data, not both")
        eval_data, calibration_data, dataset_labels = dataset_data(dataset, shape, eval_samples, train_samples)
        labels = dataset_labels if labels is None else labels
    names = load_labels(labels, classes)
    evaluation = load_data("eval_data", eval_data, shape, classes, need_labels=True,
                           required_for="the retention report (or give a dataset)")
    if eval_samples:
        evaluation = Data(evaluation.x[:eval_samples], evaluation.y[:eval_samples])
    needs = " and ".join(v for v in ("int8", "qat") if v in variants)
    train = load_data("calibration_data", calibration_data, shape, classes, need_labels="qat" in variants,
                      required_for=needs and f"the {needs} quantization")
    return names, evaluation, train


class _Checker:
    """Measures each artifact against the Keras model on the evaluation data (one report row each)."""

    def __init__(self, model: Any, evaluation: Data, threads: tuple[int, ...], latency_runs: int,
                 root: Path) -> None:
        self.evaluation = evaluation
        self.threads = threads
        self.latency_runs = latency_runs
        self.root = root
        self.reference = model.predict(evaluation.x, verbose=0, batch_size=256)
        self.rows = [self._row(report.KERAS, "", None, self.reference, {})]

    def _row(self, variant: str, path: str, size: int | None, probabilities: np.ndarray,
             latency: dict[str, float]) -> report.Row:
        return report.measure(variant, path, size, probabilities, self.reference, self.evaluation.y, latency)

    def add(self, variant: str, path: Path, probabilities: np.ndarray, latency: dict[str, float] | None = None,
            size: bool = True) -> None:
        """Add the row of the artifact at ``path`` (under ``root``) that gave ``probabilities``."""
        self.rows.append(self._row(variant, str(path.relative_to(self.root)), _size(path) if size else None,
                                   probabilities, latency or {}))

    def add_tflite(self, variant: str, path: Path, images: np.ndarray | None = None) -> None:
        """Run the TFLite file in LiteRT on ``images`` (default: the evaluation data), time it and add its row."""
        images = self.evaluation.x if images is None else images
        latency = {str(t): litert_check.latency_ms(path, images[0], t, self.latency_runs) for t in self.threads}
        self.add(variant, path, litert_check.predict(path, images, max(self.threads)), latency)
