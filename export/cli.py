"""``python -m export``: the command line of :func:`export.export_model`.

Every flag is the Python API's keyword argument of the same name. For a model
trained by ``python -m keras_resnet.training`` (raw RGB pixels in, normalisation
inside the model; the ``image_bytes`` resize rule is read from the run's
``config.json`` beside ``final.keras``)::

    python -m export --model=/tmp/keras_resnet/run/final.keras --output_dir=exports/resnet20 \\
        --dataset=fashion_mnist --custom_modules=keras_resnet.layers

and for any other Keras classifier, with ``.npz`` files of model-ready arrays::

    python -m export --model=model.keras --output_dir=out --eval_data=test.npz \\
        --calibration_data=train.npz --labels=labels.txt

It prints the retention table and writes everything atomically to
``--output_dir``. Bad input exits with status 2 and one line naming the flag;
flags, ``--output_dir`` and the model file are checked before TensorFlow is
imported. Native log lines are silenced unless ``--verbose`` (see :mod:`keras_resnet.quiet`).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from absl import app, flags

from export import model_file
from export.choices import FORMATS, VARIANTS, check_arguments
from export.errors import ExportError
from export.preprocessing import RESIZE_METHODS, Preprocessing
from keras_resnet import quiet
from keras_resnet.flagtypes import define_list

DEFAULTS = Preprocessing()


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Define the export flags in ``fv``."""
    d = DEFAULTS

    flags.DEFINE_string("model", None, "Keras 3 model file (.keras); loaded with safe_mode=True.", required=True,
                        flag_values=fv)
    flags.DEFINE_string("output_dir", None, "Folder to create with every artifact and the report.", required=True,
                        flag_values=fv)
    flags.DEFINE_string("eval_data", None, ".npz with x (model-ready float images) and y (int labels): every "
                        "artifact is compared with the Keras model on it.", flag_values=fv)
    flags.DEFINE_string("calibration_data", None, ".npz of model-ready training images x (and labels y for qat): "
                        "int8's representative dataset and QAT's fine-tuning data.", flag_values=fv)
    flags.DEFINE_string("dataset", None, "Instead of --eval_data/--calibration_data, for models trained with "
                        "keras_resnet: a keras_resnet.datasets name (e.g. fashion_mnist); test split for "
                        "evaluation, train split for calibration, class names as default --labels.", flag_values=fv)
    flags.DEFINE_integer("eval_samples", 0, "Evaluate on the first N images only (0: all).", flag_values=fv)
    flags.DEFINE_list("formats", list(FORMATS), f"Artifacts to write, any of {FORMATS}.", flag_values=fv)
    flags.DEFINE_list("quantizations", list(VARIANTS), f"TFLite variants, any of {VARIANTS} (uint8: int8 "
                      "with uint8 0-255 pixel input, camera-ready).", flag_values=fv)
    flags.DEFINE_string("model_name", None, "SavedModel folder and TFLite file name (default: the model's name).",
                        flag_values=fv)
    flags.DEFINE_integer("version", 1, "TF Serving version folder: OUT/<model_name>/<version>/.", flag_values=fv)
    flags.DEFINE_string("labels", None, "Class names, one a line, in output order (default: the dataset's, else "
                        "0..classes-1).", flag_values=fv)
    flags.DEFINE_integer("top_k", 5, "Best classes returned by the SavedModel signatures.", flag_values=fv)
    flags.DEFINE_enum("resize", d.resize, RESIZE_METHODS, "image_bytes: how decoded images reach the model's size. "
                      "fit: scale the shorter side to --short_side, centre-crop/pad; auto: fit with the training "
                      "run's rule (config.json beside the model), else fit; pad: centre zero-pad/crop, no scaling; "
                      "bilinear...area: stretch.", flag_values=fv)
    flags.DEFINE_integer("short_side", None, "image_bytes with --resize=fit: the shorter side images are scaled to "
                         "(default: size / 0.875).", lower_bound=1, flag_values=fv)
    flags.DEFINE_float("pixel_scale", d.pixel_scale, "image_bytes: x = (pixels * pixel_scale - pixel_mean) / "
                       "pixel_std.", flag_values=fv)
    define_list("pixel_mean", list(d.pixel_mean), float, "image_bytes: pixel_mean, 1 value or one per channel.",
                fv)
    define_list("pixel_std", list(d.pixel_std), float, "image_bytes: pixel_std, 1 value or one per channel.", fv)
    flags.DEFINE_integer("calibration_steps", 100, "Representative images (one per step) for int8.", flag_values=fv)
    flags.DEFINE_bool("int8_io", False, "int8 (not float32) inputs and outputs for the int8 and qat files (for "
                      "custom pipelines: MediaPipe takes float32 or uint8 inputs; see the uint8 file).",
                      flag_values=fv)
    flags.DEFINE_bool("metadata", True, "Write TFLite metadata (image input, normalisation, labels embedded, "
                      "score semantics) into every TFLite file, as MediaPipe and ML Kit require.", flag_values=fv)
    flags.DEFINE_integer("qat_epochs", 2, "QAT fine-tuning epochs.", flag_values=fv)
    flags.DEFINE_integer("qat_samples", 4096, "Training images for QAT (drawn from the calibration data).",
                         flag_values=fv)
    flags.DEFINE_integer("qat_batch_size", 64, "QAT batch size.", flag_values=fv)
    flags.DEFINE_float("qat_learning_rate", 1e-5, "QAT Adam learning rate (small: QAT fine-tunes, it does not "
                       "retrain).", flag_values=fv)
    flags.DEFINE_bool("qat_freeze_batch_norm", True, "QAT: keep batch norms in inference mode with their trained "
                      "statistics.", flag_values=fv)
    flags.DEFINE_integer("latency_runs", 50, "Batch-1 LiteRT invocations whose median is the latency.",
                         flag_values=fv)
    define_list("threads", [1, 2], int, "LiteRT thread counts to time.", fv)
    flags.DEFINE_list("custom_modules", [], "Modules registering the model's custom layers, e.g. "
                      "keras_resnet.layers.", flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "Replace an existing --output_dir.", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed of the calibration/QAT sampling and fine-tuning.", flag_values=fv)
    flags.DEFINE_bool("verbose", False, "Show native TensorFlow/converter/LiteRT log lines and INFO messages.",
                      flag_values=fv)


def _warnings_only(record: logging.LogRecord) -> bool:
    """A filter (unlike a level, Keras' temporary verbosity changes cannot reset it)."""
    return record.levelno >= logging.WARNING


_API_FLAGS = ("model", "output_dir", "eval_data", "calibration_data", "dataset", "formats", "quantizations",
              "model_name", "version", "labels", "top_k", "calibration_steps", "int8_io", "metadata", "qat_epochs",
              "qat_samples", "qat_batch_size", "qat_learning_rate", "qat_freeze_batch_norm", "latency_runs",
              "threads", "custom_modules", "overwrite", "seed")


def _check_early(fv: flags.FlagValues, preprocessing: Preprocessing) -> None:
    """The checks that need no TensorFlow: flag values, --output_dir, the model file."""
    if preprocessing.resize not in RESIZE_METHODS:
        preprocessing.check(3)
    if fv.short_side is not None and fv.resize not in ("fit", "auto"):
        raise ExportError("short_side", f"applies to --resize=fit only; received --resize={fv.resize}")
    check_arguments(fv.formats, fv.quantizations, fv.threads, fv.output_dir, fv.overwrite, version=fv.version,
                    top_k=fv.top_k, calibration_steps=fv.calibration_steps, qat_epochs=fv.qat_epochs,
                    qat_samples=fv.qat_samples, qat_batch_size=fv.qat_batch_size,
                    qat_learning_rate=fv.qat_learning_rate, latency_runs=fv.latency_runs,
                    eval_samples=fv.eval_samples or None, pixel_scale=fv.pixel_scale)
    model_file.check(Path(fv.model), fv.custom_modules)


def _export(fv: flags.FlagValues, preprocessing: Preprocessing) -> dict[str, Any]:
    from export.pipeline import export_model  # TensorFlow from here on

    for chatty in ("tensorflow", "absl"):  # TensorFlow's INFO lines; the export's own progress stays
        logging.getLogger(chatty).addFilter(_warnings_only)
    arguments = {name: fv[name].value for name in _API_FLAGS}
    return export_model(preprocessing=preprocessing, eval_samples=fv.eval_samples or None, **arguments)


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
    """Run the export the parsed flags ``fv`` describe; print the retention report. Returns the exit status."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    resize = "fit" if fv.short_side is not None and fv.resize == "auto" else fv.resize
    preprocessing = Preprocessing(resize, fv.short_side, fv.pixel_scale, tuple(fv.pixel_mean), tuple(fv.pixel_std))
    try:
        _check_early(fv, preprocessing)
        if fv.verbose:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
            result = _export(fv, preprocessing)
        else:
            with quiet.native_logs_silenced():
                result = _export(fv, preprocessing)
    except ExportError as exc:
        print(f"error: --{exc.argument}: {exc.detail}", file=sys.stderr)
        return 2
    from export.report import table, targets_table

    print(f"{table(result)}\n\n{targets_table(result)}\n\nwritten to {fv.output_dir}")
    return 0
