"""The options object and the variants table: one flag per field with its help, one check, rows that say it all."""

from __future__ import annotations

import dataclasses

import pytest
from absl import flags

from export import ExportError, ExportOptions, QatOptions, options, variants
from export.cli import define_flags


def parsed(*args: str) -> flags.FlagValues:
    fv = flags.FlagValues()
    define_flags(fv)
    fv(["export", "--model=m.keras", "--output_dir=out", *args])
    return fv


def test_every_field_is_a_flag_with_its_help_and_default() -> None:
    fv = parsed()
    fields = {name: spec for cls in (ExportOptions, options.ExportData) for name, spec, _ in options.flag_fields(cls)}
    assert {"qat_epochs", "qat_learning_rate", "qat_freeze_batch_norm", "calibration_steps", "int8_granularity",
            "variants", "formats", "eval_data", "dataset"} <= set(fields)
    for name, spec in fields.items():
        assert fv[name].help == spec.metadata["help"], name
    defaults = options.from_flags(ExportOptions, fv)
    assert defaults == ExportOptions()  # every flag's default is its field's


def test_flags_set_nested_fields() -> None:
    fv = parsed("--qat_epochs=3", "--qat_learning_rate=2e-5", "--noqat_freeze_batch_norm", "--calibration_steps=7",
                "--variants=qat,int8", "--int8_granularity=per_tensor", "--threads=2", "--eval_samples=9")
    got = options.from_flags(ExportOptions, fv).check()
    assert got.qat == QatOptions(epochs=3, learning_rate=2e-5, freeze_batch_norm=False)
    assert got.calibration.steps == 7 and got.eval_samples == 9 and got.threads == (2,)
    assert got.variants == ("int8", "qat")  # the table's order
    assert got.int8_granularity == ("per_tensor",)


@pytest.mark.parametrize(("changes", "argument", "message"), [
    ({"qat_epochs": 0}, "qat_epochs", "must be >= 1; received 0"),
    ({"qat_learning_rate": 0.0}, "qat_learning_rate", "must be positive"),
    ({"calibration_steps": -1}, "calibration_steps", "must be >= 1"),
    ({"threads": (1, 0)}, "threads", "must be >= 1"),
    ({"threads": ()}, "threads", "needs at least one value"),
    ({"variants": ("fp32", "int4")}, "variants", "unknown name(s) ['int4']; choose from ('fp32',"),
    ({"formats": ()}, "formats", "unknown name(s) []"),
    ({"int8_granularity": ("per_row",)}, "int8_granularity", "choose from ('per_channel', 'per_tensor')"),
    ({"eval_samples": 0}, "eval_samples", "must be >= 1"),
])
def test_check_names_the_flag_and_the_rule(changes: dict, argument: str, message: str) -> None:
    with pytest.raises(ExportError) as raised:
        options.replace(ExportOptions(), **changes).check()
    assert raised.value.argument == argument and message in raised.value.detail


def test_no_variants_without_tflite() -> None:
    assert options.replace(ExportOptions(), formats=("savedmodel", "onnx")).check().variants == ()


def test_variants_table_rows_are_complete() -> None:
    for name, row in variants.VARIANTS.items():
        assert row.name == name and row.source in variants.SOURCES and row.checks, name
        assert row.representative in (None, "images", "pixels")
        assert row.feeds_pixels == (row.representative == "pixels" or row.source == "pixels")
        for metric, limit in row.checks:
            assert metric in ("max_abs_diff", "accuracy_drop", "size_ratio") and limit > 0
    granular = [name for name, row in variants.VARIANTS.items() if row.granular]
    assert granular == ["int8", "uint8", "qat"]  # the integer files


def test_jobs_repeat_granular_variants_per_granularity() -> None:
    labels = [job.label for job in variants.jobs(("fp32", "int8", "qat"), variants.GRANULARITIES)]
    assert labels == ["fp32", "int8", "int8_per_tensor", "qat", "qat_per_tensor"]
    assert [job.label for job in variants.jobs(("int8",), ("per_tensor",))] == ["int8_per_tensor"]
    sources = {job.label: job.source for job in variants.jobs(("fp32", "int8", "qat"), variants.GRANULARITIES)}
    assert sources == {"fp32": "probabilities", "int8": "probabilities", "int8_per_tensor": "probabilities",
                       "qat": "qat", "qat_per_tensor": "qat_per_tensor"}  # QAT learns its scales per granularity
    assert variants.checks("int8_per_tensor") == variants.VARIANTS["int8"].checks


def test_options_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ExportOptions().version = 2  # type: ignore[misc]
