"""``python -m export``: the command line of :func:`export.export_model`.

Every option flag is a field of :class:`export.options.ExportOptions` or
:class:`export.options.ExportData` (``--qat_epochs`` is ``ExportOptions.qat.epochs``). For a model
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

from export import model_file, options, staging
from export.errors import ExportError
from export.options import ExportData, ExportOptions
from export.serving_preprocessing import RESIZE_METHODS, Preprocessing
from keras_resnet import quiet
from keras_resnet.flagtypes import define_list

DEFAULTS = Preprocessing()


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Define the export flags in ``fv``: the model, the output folder, one flag per field of
    :class:`~export.options.ExportOptions` and :class:`~export.options.ExportData`, the
    ``image_bytes`` preprocessing and ``--verbose``."""
    d = DEFAULTS

    flags.DEFINE_string("model", None, "Keras 3 model file (.keras); loaded with safe_mode=True.", required=True,
                        flag_values=fv)
    flags.DEFINE_string("output_dir", None, "Folder to create with every artifact and the report.", required=True,
                        flag_values=fv)
    options.define_flags(ExportData, fv)
    options.define_flags(ExportOptions, fv)
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
    flags.DEFINE_bool("verbose", False, "Show native TensorFlow/converter/LiteRT log lines and INFO messages.",
                      flag_values=fv)


def _warnings_only(record: logging.LogRecord) -> bool:
    """A filter (unlike a level, Keras' temporary verbosity changes cannot reset it)."""
    return record.levelno >= logging.WARNING


def _check_early(fv: flags.FlagValues, checked: ExportOptions) -> None:
    """The checks that need no TensorFlow: flag values, --output_dir, the model file, onnx's packages."""
    if checked.preprocessing.resize not in RESIZE_METHODS:
        checked.preprocessing.check(3)
    if fv.short_side is not None and fv.resize not in ("fit", "auto"):
        raise ExportError("short_side", f"applies to --resize=fit only; received --resize={fv.resize}")
    if "onnx" in checked.formats:
        from export import onnx_file  # TensorFlow only once it writes

        onnx_file.require()
    staging.check_destination(Path(fv.output_dir).absolute(), checked.overwrite)
    model_file.check(Path(fv.model), checked.custom_modules)


def _export(fv: flags.FlagValues, export_options: ExportOptions) -> dict[str, Any]:
    from export.pipeline import export_model  # TensorFlow from here on

    for chatty in ("tensorflow", "absl", "tf2onnx"):  # their INFO lines; the export's own progress stays
        logging.getLogger(chatty).addFilter(_warnings_only)
    # The export's own lines (a removed leftover of a killed export; phases with --verbose) go to the stderr
    # Python writes to here, one plain line each, whatever absl's handler or the silenced descriptor 2 do.
    own, handler = logging.getLogger("export"), logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    level = own.level
    own.setLevel(logging.INFO if fv.verbose else logging.WARNING)
    own.addHandler(handler)
    own.propagate = False
    try:
        return export_model(fv.model, fv.output_dir, options=export_options,
                            data=options.from_flags(ExportData, fv))
    finally:
        own.removeHandler(handler)
        own.propagate = True
        own.setLevel(level)


def main(argv: list[str], fv: flags.FlagValues = flags.FLAGS) -> int:
    """Run the export the parsed flags ``fv`` describe; print the retention report. Returns the exit status."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    resize = "fit" if fv.short_side is not None and fv.resize == "auto" else fv.resize
    preprocessing = Preprocessing(resize, fv.short_side, fv.pixel_scale, tuple(fv.pixel_mean), tuple(fv.pixel_std))
    try:
        checked = options.from_flags(ExportOptions, fv, preprocessing=preprocessing).check()
        _check_early(fv, checked)
        if fv.verbose:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
            result = _export(fv, checked)
        else:
            with quiet.native_logs_silenced():
                result = _export(fv, checked)
    except ExportError as exc:
        print(f"error: --{exc.argument}: {exc.detail}", file=sys.stderr)
        return 2
    from export.retention_report import phases_table, table, targets_table

    print(f"{table(result)}\n\n{targets_table(result)}\n\n{phases_table(result)}\n\n"
          f"{result['wall_time_s']:.0f} s; written to {fv.output_dir}")
    return 0
