"""One call from a Keras model to every artifact and the retention report.

Output folder (written atomically, see :mod:`export.staging`)::

    OUT/<model_name>/<version>/      TF Serving SavedModel (serving_default, image_bytes)
    OUT/tflite/<model_name>_<variant>.tflite   with TFLite metadata (see export.metadata);
                                     per-tensor files end in _per_tensor
    OUT/tflite/labels.txt            class names, one a line, in output order
    OUT/onnx/<model_name>.onnx       for onnxruntime, dynamic batch (see export.onnx_file)
    OUT/report.md, report.json, report.png

The options are checked, the model loaded, the data validated and, for QAT,
the tf_keras rebuild verified before anything is written. The converter's
source SavedModels are written into a scratch folder inside the staging
folder, so a killed export leaves them only there (see :mod:`export.staging`).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

from export import litert_check, metadata, model_io, onnx_file, retention_report, savedmodel, staging, tflite, variants
from export.checker import Checker
from export.converter_sources import Sources
from export.inputs import Inputs, prepare
from export.options import ExportData, ExportOptions
from export.phases import Phases


def export_model(model: model_io.ModelSource, output_dir: str | os.PathLike, *,
                 options: ExportOptions | None = None, data: ExportData | None = None) -> dict[str, Any]:
    """Export ``model`` to ``output_dir`` as ``options`` say, measured on ``data``; return the retention report.

    Args:
        model: A Keras 3 classifier (image batch -> class probabilities) or
            the path of a ``.keras`` file (loaded with ``safe_mode=True``).
        output_dir: Folder to create (see the module docstring).
        options: What to write and how (default: ``ExportOptions()``, see
            :class:`export.options.ExportOptions`).
        data: Evaluation and calibration data and class names (see
            :class:`export.options.ExportData` and :mod:`export.data`).
    """
    phases = Phases()
    options, data = (options or ExportOptions()).check(), data or ExportData()
    if "onnx" in options.formats:
        onnx_file.require()
    staging.check_destination(Path(output_dir).absolute(), options.overwrite)
    inputs = prepare(model, options, data, phases)
    info: dict[str, Any] = {
        "model_name": inputs.name, "version": options.version, "labels": inputs.labels,
        "eval_samples": len(inputs.evaluation), "latency_runs": options.latency_runs,
        "threads": list(options.threads), "int8_io": options.int8_io, "metadata": options.metadata,
        "int8_granularity": list(options.int8_granularity), "calibration_steps": options.calibration.steps,
        "preprocessing": dataclasses.asdict(inputs.preprocessing), "image_bytes_source": inputs.originals_source,
    }
    with staging.staged(output_dir, options.overwrite) as out, tempfile.TemporaryDirectory(dir=out) as scratch:
        checker = Checker(inputs.reference, inputs.evaluation, options.threads, options.latency_runs, out, phases)
        info["keras_accuracy"] = checker.rows[0].accuracy
        if "savedmodel" in options.formats:
            _savedmodel(inputs, options, out / inputs.name / str(options.version), checker, phases)
        if "onnx" in options.formats:
            with phases("onnx"):
                (out / "onnx").mkdir()
                onnx_file.write(inputs.model, out / "onnx" / f"{inputs.name}.onnx")
            checker.add_file("onnx", out / "onnx" / f"{inputs.name}.onnx", onnx_file)
        if options.variants:
            sources = Sources(inputs, options, Path(scratch), phases)
            _litert(inputs, options, out / "tflite", sources, checker, phases)
            if sources.qat_info:
                info["qat"] = {"rebuild_max_abs_diff": inputs.rebuild_diff, **dataclasses.asdict(options.qat),
                               **sources.qat_info}
        info.update(phases_s=phases.seconds, wall_time_s=phases.total())  # all but writing the report
        result = retention_report.build(checker.rows, info)
        retention_report.write(result, out)
    return result


def _savedmodel(inputs: Inputs, options: ExportOptions, serving: Path, checker: Checker, phases: Phases) -> None:
    """The TF Serving SavedModel, its ``serving_default`` row and an ``image_bytes`` row per encoding."""
    with phases("savedmodel"):
        savedmodel.write_serving_model(inputs.model, serving, inputs.labels, options.top_k, inputs.preprocessing)
    with phases("check savedmodel"):
        loaded = savedmodel.load(serving)
        checker.add(retention_report.SAVEDMODEL, serving, savedmodel.predict(loaded, inputs.evaluation.x))
    for image_format in savedmodel.ENCODINGS:
        with phases(f"image_bytes {image_format}"):
            encoded = savedmodel.encode(inputs.originals, image_format)
            probabilities = savedmodel.predict_encoded(loaded, encoded)
        checker.add(f"{retention_report.IMAGE_BYTES} {image_format}", serving, probabilities, size=False)


def _litert(inputs: Inputs, options: ExportOptions, folder: Path, sources: Sources, checker: Checker,
            phases: Phases) -> None:
    """Every LiteRT file of the selected variants and granularities, each converted and checked in turn."""
    folder.mkdir()
    (folder / metadata.LABELS_FILE).write_text("\n".join(inputs.labels) + "\n", encoding="utf-8")
    for job in variants.jobs(options.variants, options.int8_granularity):
        source, representative = sources.path(job), sources.representative(job)
        with phases(f"convert {job.label}"):
            converted = tflite.convert(source, job, representative, options.int8_io, phases)
            if options.metadata:
                converted = _with_metadata(converted, job, inputs, options.version)
        path = folder / f"{inputs.name}_{job.label}.tflite"
        path.write_bytes(converted)
        pixels = inputs.preprocessing.pixels(inputs.evaluation.x) if job.variant.feeds_pixels else None
        checker.add_file(job.label, path, litert_check, pixels)


def _with_metadata(converted: bytes, job: variants.Job, inputs: Inputs, version: int) -> bytes:
    """``converted`` with TFLite metadata: pixel (uint8) inputs take pixels as they are, float ones normalised."""
    (height, width, channels), camera = inputs.shape, job.variant.feeds_pixels
    mean, std = inputs.normalization
    description = (f"{inputs.name}: image classifier, {len(inputs.labels)} classes, {height}x{width} "
                   f"{'RGB' if channels == 3 else 'grey'} input; LiteRT variant {job.label}"
                   + (" (uint8 pixels 0-255 in, normalisation inside)." if camera else "."))
    info = metadata.ImageClassifierInfo(
        name=inputs.name, description=description, version=str(version), height=height, width=width,
        channels=channels, labels=inputs.labels, mean=None if camera else mean.tolist(),
        std=None if camera else std.tolist())
    return metadata.populate(converted, info)
