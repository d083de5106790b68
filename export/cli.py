"""``python -m export``: the command line of :func:`export.export_model`.

Every flag is the Python API's keyword argument of the same name. For a model
trained by ``python -m keras_resnet.training`` (raw RGB pixels in, normalisation
inside the model, 28x28 Fashion-MNIST zero-padded to 32x32)::

    python -m export --model=/tmp/keras_resnet/run/final.keras --output_dir=exports/resnet20 \\
        --dataset=fashion_mnist --resize=pad --custom_modules=keras_resnet.layers

and for any other Keras classifier, with ``.npz`` files of model-ready arrays::

    python -m export --model=model.keras --output_dir=out --eval_data=test.npz \\
        --calibration_data=train.npz --labels=labels.txt

It prints the retention table and writes everything atomically to
``--output_dir``. Bad input exits with status 2 and one line naming the flag.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from absl import app, flags

from export.errors import ExportError
from export.pipeline import FORMATS, QUANTIZATIONS, export_model
from export.preprocessing import RESIZE_METHODS, Preprocessing
from export.report import table, targets_table
from keras_resnet.flagtypes import define_list

DEFAULTS = Preprocessing()


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Define the export flags in ``fv``."""
    d = DEFAULTS

    def typed_list(name: str, default: Sequence[Any], convert: Callable[[str], Any], help_text: str) -> None:
        define_list(name, ",".join(map(str, default)), convert, help_text, flag_values=fv)

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
    flags.DEFINE_list("quantizations", list(QUANTIZATIONS), f"TFLite variants, any of {QUANTIZATIONS}.",
                      flag_values=fv)
    flags.DEFINE_string("model_name", None, "SavedModel folder and TFLite file name (default: the model's name).",
                        flag_values=fv)
    flags.DEFINE_integer("version", 1, "TF Serving version folder: OUT/<model_name>/<version>/.", flag_values=fv)
    flags.DEFINE_string("labels", None, "Class names, one a line, in output order (default: the dataset's, else "
                        "0..classes-1).", flag_values=fv)
    flags.DEFINE_integer("top_k", 5, "Best classes returned by the SavedModel signatures.", flag_values=fv)
    flags.DEFINE_enum("resize", d.resize, RESIZE_METHODS, "image_bytes: how decoded images reach the model's size "
                      "(pad: centre zero-pad/crop, no scaling).", flag_values=fv)
    flags.DEFINE_float("pixel_scale", d.pixel_scale, "image_bytes: x = (pixels * pixel_scale - pixel_mean) / "
                       "pixel_std.", flag_values=fv)
    typed_list("pixel_mean", d.pixel_mean, float, "image_bytes: pixel_mean, 1 value or one per channel.")
    typed_list("pixel_std", d.pixel_std, float, "image_bytes: pixel_std, 1 value or one per channel.")
    flags.DEFINE_integer("calibration_steps", 100, "Representative images (one per step) for int8.", flag_values=fv)
    flags.DEFINE_bool("int8_io", False, "int8 (not float32) inputs and outputs for the int8 and qat files.",
                      flag_values=fv)
    flags.DEFINE_integer("qat_epochs", 2, "QAT fine-tuning epochs.", flag_values=fv)
    flags.DEFINE_integer("qat_samples", 4096, "Training images for QAT (drawn from the calibration data).",
                         flag_values=fv)
    flags.DEFINE_integer("qat_batch_size", 64, "QAT batch size.", flag_values=fv)
    flags.DEFINE_float("qat_learning_rate", 1e-5, "QAT Adam learning rate (small: QAT fine-tunes, it does not "
                       "retrain).", flag_values=fv)
    flags.DEFINE_integer("latency_runs", 50, "Batch-1 LiteRT invocations whose median is the latency.",
                         flag_values=fv)
    typed_list("threads", (1, 2), int, "LiteRT thread counts to time.")
    flags.DEFINE_list("custom_modules", [], "Modules registering the model's custom layers, e.g. "
                      "keras_resnet.layers.", flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "Replace an existing --output_dir.", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "Seed of the calibration/QAT sampling and fine-tuning.", flag_values=fv)


def _warnings_only(record: logging.LogRecord) -> bool:
    """A filter (unlike a level, Keras' temporary verbosity changes cannot reset it)."""
    return record.levelno >= logging.WARNING


_API_FLAGS = ("model", "output_dir", "eval_data", "calibration_data", "dataset", "formats", "quantizations",
              "model_name", "version", "labels", "top_k", "calibration_steps", "int8_io", "qat_epochs",
              "qat_samples", "qat_batch_size", "qat_learning_rate", "latency_runs", "threads", "custom_modules",
              "overwrite", "seed")


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
    """Run the export the parsed flags ``fv`` describe; print the retention report. Returns the exit status."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    for chatty in ("tensorflow", "absl"):  # TensorFlow's INFO lines; the export's own progress stays
        logging.getLogger(chatty).addFilter(_warnings_only)
    preprocessing = Preprocessing(fv.resize, fv.pixel_scale, tuple(fv.pixel_mean), tuple(fv.pixel_std))
    arguments = {name: fv[name].value for name in _API_FLAGS}
    try:
        result = export_model(preprocessing=preprocessing, eval_samples=fv.eval_samples or None, **arguments)
    except ExportError as exc:
        print(f"error: --{exc.argument}: {exc.detail}", file=sys.stderr)
        return 2
    print(f"{table(result)}\n\n{targets_table(result)}\n\nwritten to {fv.output_dir}")
    return 0
