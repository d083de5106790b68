"""Every export option, written once: frozen dataclasses whose fields carry their help and allowed values.

:class:`ExportOptions` (with :class:`CalibrationOptions` and
:class:`QatOptions`) says what to export and how; :class:`ExportData` says
what to measure it on. ``python -m export`` derives one flag per field from
them (:func:`define_flags`: a nested group's fields get its prefix,
``qat.epochs`` is ``--qat_epochs``), with the field's help and default, so an
option is added by adding a field. :meth:`ExportOptions.check` is the one
check of the options alone (no model, no data, no TensorFlow): the CLI runs
it before importing TensorFlow, :func:`export.export_model` runs it first.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Any

from absl import flags

from export.errors import ExportError
from export.serving_preprocessing import Preprocessing
from export.variants import GRANULARITIES, VARIANTS
from keras_resnet.flagtypes import define_list

flags.disclaim_key_flags()  # the flags define_flags defines are key flags of its caller (listed by its --help)

FORMATS = ("savedmodel", "tflite", "onnx")
DEFAULT_FORMATS = ("savedmodel", "tflite")


def option(default: Any, help_text: str, *, minimum: float | None = None, positive: bool = False,
           allowed: Sequence[str] = ()) -> Any:
    """A dataclass field with its flag help and its rule: ``minimum`` (inclusive), ``positive`` (> 0) or,
    for names, ``allowed`` (a tuple of names must be a non-empty selection of them)."""
    return dataclasses.field(default=default, metadata={
        "help": help_text, "minimum": minimum, "positive": positive, "allowed": tuple(allowed)})


@dataclasses.dataclass(frozen=True)
class CalibrationOptions:
    """Post-training integer quantization's representative data."""

    steps: int = option(100, "Representative images (one per calibration step) for the int8 and uint8 variants.",
                        minimum=1)


@dataclasses.dataclass(frozen=True)
class QatOptions:
    """Quantization-aware fine-tuning (see export.qat)."""

    epochs: int = option(2, "QAT fine-tuning epochs.", minimum=1)
    samples: int = option(2048, "Training images for QAT (drawn from the calibration data).", minimum=1)
    batch_size: int = option(64, "QAT batch size.", minimum=1)
    learning_rate: float = option(1e-5, "QAT Adam learning rate (small: QAT fine-tunes, it does not retrain).",
                                  positive=True)
    freeze_batch_norm: bool = option(True, "QAT: keep batch norms in inference mode with their trained statistics.")


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """What to export and how: every option of :func:`export.export_model` and ``python -m export``."""

    formats: tuple[str, ...] = option(DEFAULT_FORMATS, f"Artifacts to write, any of {FORMATS}.", allowed=FORMATS)
    variants: tuple[str, ...] = option(
        tuple(VARIANTS), f"LiteRT variants, any of {tuple(VARIANTS)} (uint8: int8 with uint8 0-255 pixel input, "
        "camera-ready; see export.variants).", allowed=tuple(VARIANTS))
    int8_granularity: tuple[str, ...] = option(
        ("per_channel",), f"Weight quantization of the int8, uint8 and qat files, any of {GRANULARITIES}: "
        "per_channel (a scale per output channel) or per_tensor (one scale per tensor, as many NPUs and DSPs "
        "need); each gets its own files and report rows.", allowed=GRANULARITIES)
    model_name: str | None = option(None, "SavedModel folder, LiteRT and ONNX file name (default: the model's name).")
    version: int = option(1, "TF Serving version folder: OUT/<model_name>/<version>/.", minimum=1)
    top_k: int = option(5, "Best classes returned by the SavedModel signatures.", minimum=1)
    eval_samples: int | None = option(
        2000, "Evaluate every artifact on the first N evaluation images (more than there are: all; Python: also "
        "None). The report gives each top-1 and drop with its standard error: at N=2000, binomial +-0.7 points "
        "for a top-1 near 90 %; a drop, paired over the same images, is much tighter.", minimum=1)
    int8_io: bool = option(False, "int8 (not float32) inputs and outputs for the int8 and qat files (for custom "
                           "pipelines: MediaPipe takes float32 or uint8 inputs; see the uint8 file).")
    metadata: bool = option(True, "Write TFLite metadata (image input, normalisation, labels embedded, score "
                            "semantics) into every LiteRT file, as MediaPipe and ML Kit require.")
    calibration: CalibrationOptions = CalibrationOptions()
    qat: QatOptions = QatOptions()
    latency_runs: int = option(50, "Batch-1 invocations (LiteRT, onnxruntime) whose median is the latency.",
                               minimum=1)
    threads: tuple[int, ...] = option((1, 2), "Thread counts to time LiteRT and onnxruntime files with.", minimum=1)
    custom_modules: tuple[str, ...] = option((), "Modules registering the model's custom layers, e.g. "
                                             "keras_resnet.layers.")
    overwrite: bool = option(False, "Replace an existing --output_dir.")
    seed: int = option(0, "Seed of the calibration/QAT sampling and fine-tuning.")
    preprocessing: Preprocessing = Preprocessing()  # flags of its own (see export.cli)

    def check(self) -> ExportOptions:
        """Every rule of every field; returns these options with each selection in its table's order.

        Raises :class:`ExportError` naming the flag (``qat_epochs``) at fault.
        """
        changes: dict[str, Any] = {}
        for name, spec, value in _walk(self):
            changes[name] = _checked(name, spec.metadata, value)
        if "tflite" not in changes["formats"]:
            changes["variants"] = ()
        return replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class ExportData:
    """What every artifact is measured on (and int8/QAT learn from), with the class names."""

    dataset: str | None = option(None, "Instead of --eval_data/--calibration_data, for models trained with "
                                 "keras_resnet: a keras_resnet.datasets name (e.g. fashion_mnist); test split for "
                                 "evaluation, train split for calibration, class names as default --labels.")
    eval_data: Any = option(None, ".npz with x (model-ready float images) and y (int labels): every artifact is "
                            "compared with the Keras model on it (Python: also an (x, y) pair).")
    calibration_data: Any = option(None, ".npz of model-ready training images x (and labels y for qat): int8's "
                                   "representative dataset and QAT's fine-tuning data (Python: also x or (x, y)).")
    labels: Any = option(None, "Class names, one a line, in output order (default: the dataset's, else "
                         "0..classes-1; Python: also a list).")


def flag_fields(cls: type) -> Iterator[tuple[str, dataclasses.Field, type]]:
    """``(flag name, field, type)`` of every flagged field of ``cls``, nested groups' fields with their prefix."""
    hints = typing.get_type_hints(cls)
    for spec in dataclasses.fields(cls):
        hint = hints[spec.name]
        if "help" in spec.metadata:
            yield spec.name, spec, hint
        elif dataclasses.is_dataclass(hint) and hint is not Preprocessing:
            for name, inner, inner_hint in flag_fields(hint):
                yield f"{spec.name}_{name}", inner, inner_hint


def _walk(options: Any) -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """``(flag name, field, value)`` of every flagged field of ``options``."""
    for name, spec, _ in flag_fields(type(options)):
        value = options
        for part in _path(type(options), name):
            value = getattr(value, part)
        yield name, spec, value


def _path(cls: type, flag: str) -> list[str]:
    """The attribute path of the field behind ``flag`` (``qat_epochs`` -> ``["qat", "epochs"]``)."""
    for spec in dataclasses.fields(cls):
        if spec.name == flag:
            return [spec.name]
        if flag.startswith(f"{spec.name}_") and dataclasses.is_dataclass(spec.default):
            return [spec.name, *_path(type(spec.default), flag[len(spec.name) + 1:])]
    raise KeyError(flag)


def replace(options: Any, **changes: Any) -> Any:
    """``options`` with fields changed by flag name (``qat_epochs=1`` sets ``options.qat.epochs``)."""
    direct, nested = {}, {}
    for flag, value in changes.items():
        path = _path(type(options), flag)
        if len(path) == 1:
            direct[flag] = value
        else:
            nested.setdefault(path[0], {})[flag[len(path[0]) + 1:]] = value
    for group, inner in nested.items():
        direct[group] = replace(getattr(options, group), **inner)
    return dataclasses.replace(options, **direct)


def _checked(name: str, rule: types.MappingProxyType, value: Any) -> Any:
    """``value`` after the field's rule (a selection comes back in its table's order)."""
    if rule["allowed"]:
        values = (value,) if isinstance(value, str) else tuple(value)
        unknown = [v for v in values if v not in rule["allowed"]]
        if unknown or not values:
            raise ExportError(name, f"unknown name(s) {unknown or list(values)!r}; choose from {rule['allowed']}")
        return tuple(v for v in rule["allowed"] if v in values)
    numbers = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and rule["minimum"] is not None and not value:
        raise ExportError(name, f"needs at least one value; received {value!r}")
    for number in numbers:
        if number is None or isinstance(number, (bool, str)):
            continue
        if rule["minimum"] is not None and not number >= rule["minimum"]:
            raise ExportError(name, f"must be >= {rule['minimum']}; received {value!r}")
        if rule["positive"] and not number > 0:
            raise ExportError(name, f"must be positive; received {value!r}")
    return value


def define_flags(cls: type, fv: flags.FlagValues) -> None:
    """One absl flag per field of ``cls`` (see the module docstring); lists are comma-separated."""
    for name, spec, hint in flag_fields(cls):
        default = _default(cls, name)
        help_text = spec.metadata["help"]
        if hint is bool:
            flags.DEFINE_bool(name, default, help_text, flag_values=fv)
        elif typing.get_origin(hint) is tuple:
            (item, _) = typing.get_args(hint)
            define_list(name, list(default), item, help_text, fv, kind="strings" if item is str else None)
        elif int in typing.get_args(hint) or hint is int:
            flags.DEFINE_integer(name, default, help_text, flag_values=fv)
        elif hint is float:
            flags.DEFINE_float(name, default, help_text, flag_values=fv)
        else:
            flags.DEFINE_string(name, default, help_text, flag_values=fv)


def _default(cls: type, flag: str) -> Any:
    value = cls()
    for part in _path(cls, flag):
        value = getattr(value, part)
    return value


def from_flags(cls: type, fv: flags.FlagValues, **fields: Any) -> Any:
    """A ``cls`` from the parsed flags ``fv`` (lists become tuples), with ``fields`` set directly."""
    values = {name: fv[name].value for name, _, _ in flag_fields(cls)}
    values = {name: tuple(v) if isinstance(v, list) else v for name, v in values.items()}
    return replace(cls(**fields), **values)

