"""The LiteRT variants, one row each: how the source model is made, how it is converted, what it is fed and checked on.

Sources (made by :mod:`export.converter_sources`):

* ``probabilities``: the Keras model itself (``images`` -> ``probabilities``);
* ``pixels``: the Keras model behind its pixel normalisation, taking 0-255
  pixels (the camera-ready file's source, see
  :func:`export.savedmodel.write_pixels_model`);
* ``qat``: the model's tf_keras twin after quantization-aware fine-tuning
  (fake-quant ranges learned in training, see :mod:`export.qat`).

Conversion (``tf.lite.TFLiteConverter``, builtin ops only, never Select TF
ops, so every file runs in the stock LiteRT runtime): ``optimize`` turns on
``Optimize.DEFAULT`` (int8 weights, float activations, unless more is
asked); ``float16`` stores float16 weights; ``representative`` calibrates
every activation (full-integer post-training quantization, int8 kernels
only) on model-ready ``images`` or on 0-255 ``pixels``; ``input_type`` fixes
the input's type; ``integer_io`` variants take and return int8 with
``--int8_io``; ``granular`` variants come per channel or per tensor
(``--int8_granularity``). QAT learns its weights' scales, so its source is
made once per granularity (:attr:`Job.source`): per tensor, each batch norm
that follows a convolution is folded into it first
(:func:`keras_resnet.inference.fold_batchnorm`) and the folded net is
fine-tuned with tfmot's per-tensor scheme (``disable_per_axis``), because
tfmot's own fold keeps the batch norm's per-channel scale outside the
fake-quantized kernel and the converter would then keep those convolutions
in float; a batch norm that follows no convolution (pre-activation nets)
is quantized at its output, as per channel. ``checks`` are the report's targets:
``(metric, limit)``, the metric ``max_abs_diff``, ``accuracy_drop``
(points) or ``size_ratio`` (to the fp32 file) at most ``limit``.

Adding a variant is adding a row (and its test).
"""

from __future__ import annotations

import dataclasses

GRANULARITIES = ("per_channel", "per_tensor")
SOURCES = ("probabilities", "pixels", "qat")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One LiteRT file kind (see the module docstring)."""

    name: str
    source: str
    optimize: bool = True
    float16: bool = False
    representative: str | None = None  # "images" or "pixels": full-integer quantization calibrated on them
    input_type: str | None = None  # "uint8": camera pixels in, scale 1, zero point 0
    integer_io: bool = False
    granular: bool = False
    checks: tuple[tuple[str, float], ...] = ()

    @property
    def feeds_pixels(self) -> bool:
        """Whether the file takes 0-255 pixels rather than model-ready images."""
        return self.source == "pixels"


VARIANTS = {v.name: v for v in (
    Variant("fp32", "probabilities", optimize=False, checks=(("max_abs_diff", 1e-4),)),
    Variant("dynamic", "probabilities", checks=(("accuracy_drop", 1.0),)),
    Variant("fp16", "probabilities", float16=True, checks=(("max_abs_diff", 1e-2),)),
    Variant("int8", "probabilities", representative="images", integer_io=True, granular=True,
            checks=(("accuracy_drop", 1.0), ("size_ratio", 0.3))),
    Variant("uint8", "pixels", representative="pixels", input_type="uint8", granular=True,
            checks=(("accuracy_drop", 1.0),)),
    Variant("qat", "qat", integer_io=True, granular=True, checks=(("accuracy_drop", 0.5),)),
)}


@dataclasses.dataclass(frozen=True)
class Job:
    """One LiteRT file to write: a variant at a weight granularity (``None`` where it does not apply)."""

    variant: Variant
    granularity: str | None

    @property
    def label(self) -> str:
        """The file's name suffix and report row: the variant's name, plus ``_per_tensor`` for per-tensor files."""
        return self.variant.name + self.suffix

    @property
    def suffix(self) -> str:
        """``_per_tensor`` for per-tensor files, else empty."""
        return "_per_tensor" if self.granularity == "per_tensor" else ""

    @property
    def source(self) -> str:
        """The name of the source SavedModel this file converts from: the variant's source, per granularity for
        QAT (whose fine-tuning learns the weights' scales)."""
        return self.variant.source + (self.suffix if self.variant.source == "qat" else "")


def jobs(names: tuple[str, ...], granularities: tuple[str, ...]) -> list[Job]:
    """The files for the selected variants: granular ones once per granularity, the others once."""
    return [Job(VARIANTS[name], granularity) for name in names
            for granularity in (granularities if VARIANTS[name].granular else (None,))]


def checks(label: str) -> tuple[tuple[str, float], ...]:
    """The checks of a report row's variant (a per-tensor file has its variant's)."""
    variant = VARIANTS.get(label.removesuffix("_per_tensor"))
    return () if variant is None else variant.checks
