"""Tests for keras_resnet.imagenet: shipped class names and their generator, preprocessing, decoding."""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from keras.applications import imagenet_utils, resnet, resnet_v2

from keras_resnet import image_data_format, imagenet
from keras_resnet.data import make_imagenet_classes
from keras_resnet.flagtypes import flags_parser

# tensorflow-datasets' ImageNet-1k labels.txt, located without importing tfds.
_TFDS = importlib.util.find_spec("tensorflow_datasets")
TFDS_LABELS = (
    Path(_TFDS.origin).parent / "datasets" / "imagenet2012" / "labels.txt"
    if _TFDS is not None and _TFDS.origin is not None
    else None
)


def _images(dtype: str = "float32") -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(2, 5, 7, 3)).astype(dtype)


@pytest.mark.skipif(TFDS_LABELS is None, reason="tensorflow-datasets not installed")
def test_wnids_match_tfds_order() -> None:
    assert TFDS_LABELS is not None
    expected = TFDS_LABELS.read_text(encoding="utf-8").split()
    assert len(expected) == 1000
    assert imagenet.wnids() == expected
    assert len(set(imagenet.wnids())) == 1000


def test_class_names_shape() -> None:
    names = imagenet.class_names()
    assert len(names) == 1000
    assert all(name and " " not in name and "\t" not in name for name in names)


@pytest.mark.parametrize(
    ("index", "wnid", "name"),
    [
        (0, "n01440764", "tench"),
        (1, "n01443537", "goldfish"),
        (151, "n02085620", "Chihuahua"),
        (207, "n02099601", "golden_retriever"),
        (999, "n15075141", "toilet_tissue"),
    ],
)
def test_known_classes(index: int, wnid: str, name: str) -> None:
    assert imagenet.wnids()[index] == wnid
    assert imagenet.class_names()[index] == name


def test_returned_lists_are_copies() -> None:
    imagenet.class_names().clear()
    imagenet.wnids().clear()
    assert len(imagenet.class_names()) == 1000
    assert len(imagenet.wnids()) == 1000


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8"])
@pytest.mark.parametrize(
    ("mode", "reference"),
    [
        ("caffe", resnet.preprocess_input),
        ("tf", resnet_v2.preprocess_input),
        ("torch", lambda x: imagenet_utils.preprocess_input(x, mode="torch")),
    ],
)
def test_preprocess_numpy_matches_keras(
    mode: str, reference: Callable[[np.ndarray], np.ndarray], dtype: str
) -> None:
    x = _images(dtype)
    before = x.copy()
    got = imagenet.preprocess_input(x, mode=mode)
    expected = reference(x.copy())
    assert isinstance(got, np.ndarray)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(x, before)  # input left untouched


@pytest.mark.parametrize(
    ("mode", "reference"),
    [
        ("caffe", resnet.preprocess_input),
        ("tf", resnet_v2.preprocess_input),
        ("torch", lambda x: imagenet_utils.preprocess_input(x, mode="torch")),
    ],
)
def test_preprocess_tensor_matches_keras(
    mode: str, reference: Callable[[tf.Tensor], tf.Tensor]
) -> None:
    x = tf.constant(_images())
    got = imagenet.preprocess_input(x, mode=mode)
    assert tf.is_tensor(got)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(reference(x)))
    np.testing.assert_array_equal(
        np.asarray(got), imagenet.preprocess_input(_images(), mode=mode)
    )


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (3, 5, 4)])
@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_preprocess_channels_first_matches_keras(mode: str, shape: tuple[int, ...]) -> None:
    """Channels on axis 1 of a batch or axis 0 of one image, given or read from Keras' config."""
    x = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
    expected = imagenet_utils.preprocess_input(x.copy(), data_format="channels_first", mode=mode)
    np.testing.assert_array_equal(imagenet.preprocess_input(x, mode, "channels_first"), expected)
    tensor = imagenet.preprocess_input(tf.constant(x), mode, "channels_first")
    np.testing.assert_array_equal(np.asarray(tensor), expected)
    with image_data_format("channels_first"):
        np.testing.assert_array_equal(imagenet.preprocess_input(x, mode), expected)
    last = np.moveaxis(x, -3, -1)
    np.testing.assert_array_equal(imagenet.preprocess_input(last, mode, "channels_last"),
                                  np.moveaxis(expected, -3, -1))


def test_preprocess_rejects_unknown_data_format() -> None:
    with pytest.raises(ValueError, match=r"`data_format` must be 'channels_last' or 'channels_first', got 'NHWC'"):
        imagenet.preprocess_input(_images(), data_format="NHWC")


def test_preprocess_int_tensor_is_cast_to_float() -> None:
    got = imagenet.preprocess_input(tf.constant(_images("int32")))
    np.testing.assert_array_equal(
        np.asarray(got), resnet.preprocess_input(_images("float32"))
    )


def test_preprocess_default_mode_is_caffe() -> None:
    np.testing.assert_array_equal(
        imagenet.preprocess_input(_images()), resnet.preprocess_input(_images())
    )


def test_preprocess_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match=r"`mode`.*caffe.*tf.*torch.*'bogus'"):
        imagenet.preprocess_input(_images(), mode="bogus")


@pytest.mark.parametrize("as_tensor", [False, True])
def test_decode_predictions_one_hot(as_tensor: bool) -> None:
    indices = [0, 207, 999]
    preds = np.zeros((3, 1000), dtype="float32")
    preds[np.arange(3), indices] = 1.0
    preds[1:, 1] = 0.25  # goldfish as runner-up in rows 1 and 2
    decoded = imagenet.decode_predictions(
        tf.constant(preds) if as_tensor else preds, top=3
    )
    assert len(decoded) == 3
    names = imagenet.class_names()
    wnids = imagenet.wnids()
    for row, index in zip(decoded, indices, strict=True):
        assert len(row) == 3
        assert row[0] == (wnids[index], names[index], 1.0)
        scores = [score for _, _, score in row]
        assert scores == sorted(scores, reverse=True)
        assert all(isinstance(score, float) for score in scores)
    assert decoded[1][1][:2] == ("n01443537", "goldfish")
    assert decoded[1][1][2] == pytest.approx(0.25)


def test_decode_predictions_default_top_is_5() -> None:
    preds = np.random.default_rng(0).random((2, 1000))
    decoded = imagenet.decode_predictions(preds)
    assert [len(row) for row in decoded] == [5, 5]
    assert decoded[0][0][0] == imagenet.wnids()[int(preds[0].argmax())]


@pytest.mark.parametrize("shape", [(1000,), (2, 999), (2, 1000, 1), (0,)])
def test_decode_predictions_rejects_bad_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"`preds`.*\(N, 1000\)"):
        imagenet.decode_predictions(np.zeros(shape))


@pytest.mark.parametrize("top", [0, -1, 1001, 2.0, True])
def test_decode_predictions_rejects_bad_top(top: object) -> None:
    with pytest.raises(ValueError, match=r"`top`.*1\.\.1000"):
        imagenet.decode_predictions(np.zeros((1, 1000)), top=top)


def test_decode_predictions_top_bounds() -> None:
    preds = np.zeros((1, 1000))
    assert len(imagenet.decode_predictions(preds, top=1)[0]) == 1
    assert len(imagenet.decode_predictions(preds, top=1000)[0]) == 1000


def _make_classes(argv: list[str]) -> int:
    """``python -m keras_resnet.data.make_imagenet_classes`` with ``argv``, in this process (its own flags)."""
    fv = flags.FlagValues()
    make_imagenet_classes.define_flags(fv)
    program = make_imagenet_classes.PROG
    return make_imagenet_classes.main(flags_parser(program, fv)([program, *argv]), fv)


def test_make_imagenet_classes_rebuilds_the_shipped_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The generator, given the wnids in index order (tensorflow-datasets' labels.txt) and a lemma file in
    timm's format in another order, writes the shipped file byte for byte; bad input fails in one line."""
    shipped = Path(make_imagenet_classes.__file__).with_name("imagenet_classes.tsv")
    pairs = [line.split("\t") for line in shipped.read_text(encoding="utf-8").splitlines()]
    labels = TFDS_LABELS if TFDS_LABELS is not None else tmp_path / "labels.txt"
    if TFDS_LABELS is None:
        labels.write_text("\n".join(wnid for wnid, _ in pairs) + "\n")
    lemma_lines = [f"{wnid}\t{name.replace('_', ' ')}, another lemma" for wnid, name in pairs]
    random.Random(0).shuffle(lemma_lines)
    lemmas = tmp_path / "lemmas.txt"
    lemmas.write_text("\n".join(lemma_lines) + "\n", encoding="utf-8")
    for flag in ("-o", "--output"):
        out = tmp_path / f"classes{flag}.tsv"
        assert _make_classes([str(labels), str(lemmas), flag, str(out)]) == 0
        assert out.read_bytes() == shipped.read_bytes()
    lemmas.write_text("\n".join(lemma_lines[1:]) + "\n", encoding="utf-8")
    assert _make_classes([str(labels), str(lemmas), f"--output={tmp_path / 'partial.tsv'}"]) == 1
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "partial.tsv").exists()
    for argv, message in [([str(labels)], "expected LABELS_TXT and LEMMA_TXT"),
                          ([str(labels), str(tmp_path / "nope.txt")], "LEMMA_TXT file not found"),
                          ([str(labels), str(lemmas), "--output"], "Missing value for flag --output")]:
        with pytest.raises(SystemExit) as exit_info:
            _make_classes(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.count("\n") == 1 and message in err, err


@pytest.mark.subprocess
def test_make_imagenet_classes_command_line(tmp_path: Path) -> None:
    """``python -m keras_resnet.data.make_imagenet_classes``: bad input exits 2 with one line."""
    done = subprocess.run([sys.executable, "-m", "keras_resnet.data.make_imagenet_classes", str(tmp_path / "x.txt"),
                           str(tmp_path / "y.txt")], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr == (f"{make_imagenet_classes.PROG}: error: LABELS_TXT file not "
                                                    f"found: {str(tmp_path / 'x.txt')!r}\n")
