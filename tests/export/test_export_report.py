"""Retention report arithmetic and verdicts, and the image_bytes preprocessing, without any export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from export import TARGETS, Preprocessing, retention_report
from keras_resnet import datasets


def row(variant: str, accuracy_drop: float = 0.0, diff: float = 0.0, size: int | None = 1000) -> retention_report.Row:
    path = "" if variant == "keras" else f"tflite/m_{variant}.tflite"
    return retention_report.Row(variant, path, size, 0.9 - accuracy_drop / 100, 0.01, accuracy_drop, 0.1, 1.0, diff,
                                {"1": 1.5, "2": 1.0})


def test_measure_compares_with_the_keras_model() -> None:
    reference = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    candidate = np.array([[0.7, 0.3], [0.6, 0.4], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    measured = retention_report.measure("int8", "tflite/m.tflite", 123, candidate, reference, labels, {"1": 2.0})
    assert measured.accuracy == 0.5  # right on images 0 and 3
    assert measured.accuracy_drop == pytest.approx(25.0)  # Keras: 75 %
    assert measured.accuracy_se == pytest.approx(np.sqrt(0.5 * 0.5 / 4))
    # per image, Keras right minus candidate right: (0, 1, 0, 0); its standard deviation over sqrt(4), in points
    assert measured.drop_se == pytest.approx(100 * np.sqrt(0.25 * 0.75 / 4))
    assert measured.agreement == 0.75  # image 1 flips
    assert measured.max_abs_diff == pytest.approx(0.4)
    assert measured.size_bytes == 123 and measured.latency_ms == {"1": 2.0}


def test_targets_met_missed_and_not_measured() -> None:
    rows = [row("savedmodel", diff=0.0), row("fp32", diff=5e-5, size=1000), row("fp16", diff=0.02),
            row("dynamic", accuracy_drop=0.4), row("int8", accuracy_drop=1.5, size=250)]
    built = retention_report.build(rows, {"model_name": "m"})
    verdicts = {t["target"]: (t["measured"], t["met"]) for t in built["targets"]}
    assert len(verdicts) == len(TARGETS)
    assert verdicts["fp32 max abs diff <= 0.0001"] == (5e-5, True)
    assert verdicts["fp16 max abs diff <= 0.01"] == (0.02, False)
    assert verdicts["dynamic top-1 drop (points) <= 1"] == (0.4, True)
    assert verdicts["int8 top-1 drop (points) <= 1"] == (1.5, False)
    assert verdicts["int8 size / fp32 size <= 0.3"] == (0.25, True)
    assert verdicts["qat top-1 drop (points) <= 0.5"] == (None, None)


def test_written_report_says_what_was_missed(tmp_path: Path) -> None:
    info = {"model_name": "m", "eval_samples": 4, "keras_accuracy": 0.9, "latency_runs": 50}
    rows = [row("keras", size=None), row("fp32"), row("int8", accuracy_drop=2.0, size=400)]
    built = retention_report.build(rows, info)
    retention_report.write(built, tmp_path)
    assert json.loads((tmp_path / "report.json").read_text()) == built
    markdown = (tmp_path / "report.md").read_text()
    assert "Targets missed: int8 top-1 drop (points) <= 1, int8 size / fp32 size <= 0.3." in markdown
    assert "| int8 top-1 drop (points) <= 1 | 2 ± 0.1 | **MISSED** |" in markdown  # the drop with its SE
    assert "| qat top-1 drop (points) <= 0.5 | — | not measured |" in markdown
    assert ("| int8 | `tflite/m_int8.tflite` | 0.4 KB | 0.40 | 88.00 ± 1.00 | +2.00 ± 0.10 | 100.00 | 0.00e+00 "
            "| 1.50 | 1.00 |") in markdown
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_table_lists_every_row() -> None:
    built = retention_report.build([row("keras", size=None), row("fp32")], {"model_name": "m"})
    lines = retention_report.table(built).splitlines()
    assert lines[0].startswith("| variant | file | size |") and "latency 2 thr (ms)" in lines[0]
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| keras", "| fp32"]


def encode(image: np.ndarray) -> tf.Tensor:
    return tf.io.encode_png(tf.constant(image, tf.uint8))


def test_preprocessing_pads_converts_and_normalises() -> None:
    grey = np.random.default_rng(0).integers(0, 256, (28, 28, 1))
    prep = Preprocessing(resize="pad", pixel_scale=0.5, pixel_mean=(1.0, 2.0, 3.0), pixel_std=(2.0,))
    got = prep.decode(encode(grey), (32, 32, 3)).numpy()
    padded = np.zeros((32, 32, 3))
    padded[2:30, 2:30] = grey  # grey -> RGB by repetition, zero border as in training
    np.testing.assert_allclose(got, (padded * 0.5 - np.array([1.0, 2.0, 3.0])) / 2.0, rtol=1e-6)


@pytest.mark.parametrize("method", ["bilinear", "nearest", "area"])
def test_preprocessing_resizes_only_when_needed(method: str) -> None:
    image = np.random.default_rng(1).integers(0, 256, (20, 24, 3))
    prep = Preprocessing(resize=method)
    got = prep.decode(encode(image), (16, 16, 3)).numpy()
    np.testing.assert_allclose(got, tf.image.resize(image, (16, 16), method=method).numpy(), rtol=1e-5)
    same = prep.decode(encode(image), (20, 24, 3)).numpy()  # raw pixel values by default
    np.testing.assert_array_equal(same, image)


def test_fit_scales_any_size_to_the_training_scale() -> None:
    """resize='fit' with the Fashion-MNIST run's short side 28: 28 px is padded as in training, larger is scaled."""
    grey = datasets.read_idx(Path(datasets.FASHION_MNIST_DIR) / "t10k-images-idx3-ubyte.gz")[0][..., None]
    prep = Preprocessing(resize="fit", short_side=28)
    native = prep.decode(encode(grey), (32, 32, 3)).numpy()
    training = datasets.fit_to_size(tf.image.grayscale_to_rgb(tf.constant(grey)), 32).numpy()
    np.testing.assert_array_equal(native, training)  # the one implementation, same numbers
    big = np.repeat(np.repeat(grey, 10, axis=0), 10, axis=1)  # 280 x 280, every pixel a 10 x 10 block
    scaled = prep.decode(encode(big), (32, 32, 3)).numpy()
    padded = Preprocessing(resize="pad").decode(encode(big), (32, 32, 3)).numpy()  # a 32 px patch of the middle
    assert np.abs(scaled - native).mean() < 0.15 * native.mean() < np.abs(padded - native).mean()
    wide = prep.decode(encode(np.concatenate([big, big], axis=1)), (32, 32, 3)).numpy()  # 280 x 560: crop
    assert wide.shape == (32, 32, 3) and wide[2:30].std() > 0 and not wide[:2].any()  # scaled, then padded


def test_default_fit_is_the_imagenet_centre_crop() -> None:
    image = np.random.default_rng(3).integers(0, 256, (300, 400, 3)).astype(np.uint8)
    got = Preprocessing(resize="fit").decode(encode(image), (224, 224, 3)).numpy()
    np.testing.assert_allclose(got, datasets.fit_to_size(tf.constant(image), 224).numpy(), atol=1e-3)


@pytest.mark.parametrize(("changes", "must_show"), [([-0.11, 0.0, -0.05], (-1.0, 1.0)), ([-5.5, 0.3], (-5.5, 1.0))])
def test_plot_axis_shows_points_in_a_sensible_range(changes: list[float], must_show: tuple[float, float]) -> None:
    low, high = retention_report.accuracy_limits(changes)
    assert low <= must_show[0] and high >= must_show[1]  # small differences are not magnified into a cliff
    assert high - low <= 2 * (max(changes + [1.0]) - min(changes + [-1.0]))  # nor squashed


def test_per_tensor_rows_get_their_variants_targets_and_phases_are_shown(tmp_path: Path) -> None:
    info = {"model_name": "m", "eval_samples": 4, "keras_accuracy": 0.9, "latency_runs": 50,
            "phases_s": {"load": 1.5, "convert int8_per_tensor": 3.0, "calibrate int8_per_tensor": 0.5}}
    rows = [row("keras", size=None), row("fp32"), row("int8_per_tensor", accuracy_drop=1.5, size=250)]
    built = retention_report.build(rows, info)
    verdicts = {t["target"]: t["met"] for t in built["targets"]}
    assert len(verdicts) == len(TARGETS) + 2  # the per-tensor file has int8's two checks
    assert verdicts["int8_per_tensor top-1 drop (points) <= 1"] is False
    assert verdicts["int8_per_tensor size / fp32 size <= 0.3"] is True
    assert verdicts["int8 top-1 drop (points) <= 1"] is None  # no per-channel int8 file here
    assert retention_report.phases_table(built).splitlines()[2:] == [
        "| load | 1.5 |", "| convert int8_per_tensor | 3.0 |", "| calibrate int8_per_tensor | 0.5 |"]
    retention_report.write(built, tmp_path)
    assert "## Time per phase" in (tmp_path / "report.md").read_text()
