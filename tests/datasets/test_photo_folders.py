"""Photo folders as people have them: every format TensorFlow decodes, EXIF orientation, files that are
not images, splits and class imbalance, and the training command line on such a folder.

The folder is written with Pillow, whose decoders are independent of TensorFlow's.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps
from training_support import run_training_cli

from export.serving_preprocessing import Preprocessing
from keras_resnet import datasets, exif, preprocessing
from keras_resnet.datasets import transforms

RNG = np.random.default_rng(0)


def _picture(height: int, width: int) -> np.ndarray:
    """Smooth colours with a bright block in the top-left corner, so turns and flips show (and JPEG keeps it)."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, (x + y) * 127 // (height + width)], -1).astype(np.uint8)
    image[:height // 4, :width // 3] = (250, 250, 40)
    return image


def _jpeg(image: Image.Image, orientation: int | None = None, **options: object) -> bytes:
    buffer = io.BytesIO()
    if orientation is not None:
        tags = Image.Exif()
        tags[0x0112] = orientation
        options["exif"] = tags.tobytes()
    image.save(buffer, "JPEG", quality=95, **options)
    return buffer.getvalue()


def _big_endian_exif_jpeg(image: Image.Image, orientation: int) -> bytes:
    """A JPEG whose Exif APP1 (after a JFIF APP0) is in Motorola byte order, written by hand (TIFF 6.0 §2)."""
    tiff = b"MM\x00\x2a" + (8).to_bytes(4, "big") + (2).to_bytes(2, "big")
    tiff += (0x010F).to_bytes(2, "big") + (2).to_bytes(2, "big") + (4).to_bytes(4, "big") + b"ACME"  # Make
    tiff += (0x0112).to_bytes(2, "big") + (3).to_bytes(2, "big") + (1).to_bytes(4, "big")
    tiff += orientation.to_bytes(2, "big") + b"\x00\x00" + (0).to_bytes(4, "big")
    app1 = b"Exif\x00\x00" + tiff
    plain = _jpeg(image)  # Pillow writes SOI + JFIF APP0 first
    app0_end = 4 + int.from_bytes(plain[4:6], "big")
    return plain[:app0_end] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + plain[app0_end:]


def _encoded(array: np.ndarray, form: str) -> bytes:
    image = Image.fromarray(array)
    buffer = io.BytesIO()
    if form == "cmyk":
        return _jpeg(image.convert("CMYK"))
    if form == "progressive":
        return _jpeg(image, progressive=True)
    if form == "png16":
        Image.fromarray(array[..., 0].astype(np.uint16) * 257).save(buffer, "PNG")
    elif form in ("L", "LA", "RGBA"):
        image.convert(form).save(buffer, "PNG")
    else:
        image.save(buffer, form, **({"lossless": True} if form == "WEBP" else {}))
    return buffer.getvalue()


GOOD = {  # file name -> how it is written
    "plain.jpg": "jpeg", "upper.JPG": "jpeg", "cmyk.jpg": "cmyk", "progressive.jpeg": "progressive",
    "grey.png": "L", "grey_alpha.png": "LA", "alpha.PNG": "RGBA", "deep.png": "png16", "bitmap.bmp": "BMP",
    "first_frame.gif": "GIF", "lossless.webp": "WEBP", "portrait6.jpg": 6, "portrait8.jpg": 8, "upside3.jpg": 3,
}
BAD = ("shoe/not_an_image.jpg", "shoe/empty.png", "shoe/half_written.jpg")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three classes of small photos at mixed sizes and formats, plus what real folders also hold."""
    root = tmp_path_factory.mktemp("photos")
    for index, (name, form) in enumerate(GOOD.items()):
        array = _picture(30, 48) if isinstance(form, int) else _picture(24 + 2 * index, 40 - index)  # phones: landscape
        data = _jpeg(Image.fromarray(array), form) if isinstance(form, int) else (
            _jpeg(Image.fromarray(array)) if form == "jpeg" else _encoded(array, form))
        _write(root / "shirt" / name, data)
    for cls in ("shoe", "bag"):
        for i in range(12 if cls == "shoe" else 6):
            _write(root / cls / f"{i:02d}.jpg", _jpeg(Image.fromarray(_picture(30 + i, 36))))
    _write(root / BAD[0], b"Saved from a web page: <html>not really a photo</html>")
    _write(root / BAD[1], b"")
    whole = _jpeg(Image.fromarray(_picture(60, 80)))
    _write(root / BAD[2], whole[: len(whole) // 2])
    _write(root / "notes.txt", b"shoes bought in May")
    _write(root / "shoe" / "notes.txt", b"left ones only")
    _write(root / "shoe" / ".hidden.jpg", b"not an image either, but hidden")
    _write(root / "bag" / "._apple_double.jpg", b"macOS resource fork")
    _write(root / "bag" / ".thumbnails" / "t.jpg", b"a thumbnail cache")
    return root


def _all_files(source: datasets.Source) -> set[str]:
    return {os.path.relpath(f, source.info.name) for paths in source.files.values() for f in paths}


def test_listing_takes_every_image_suffix_in_any_case_and_ignores_hidden_and_other_files(photos: Path) -> None:
    source = datasets.load(str(photos))
    assert source.info.class_names == ("bag", "shirt", "shoe")
    expected = {f"shirt/{n}" for n in GOOD} | {f"shoe/{i:02d}.jpg" for i in range(12)} | {
        f"bag/{i:02d}.jpg" for i in range(6)} | set(BAD)
    assert _all_files(source) == expected


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_format_decodes_upright_as_pillow_shows_it(photos: Path, name: str) -> None:
    data = (photos / "shirt" / name).read_bytes()
    got = preprocessing.decode(tf.constant(data), 3).numpy().astype(int)
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if GOOD[name] == "png16":  # Pillow clips 16-bit to 8; TensorFlow scales, as a viewer does
        expected = np.repeat((np.asarray(shown).astype(int) + 128) // 257, 3).reshape(got.shape)
    else:
        expected = np.asarray(shown.convert("RGBA" if shown.mode in ("LA", "RGBA") else "RGB"))[..., :3].astype(int)
    assert got.shape == expected.shape
    lossy = str(GOOD[name]) not in ("L", "LA", "RGBA", "png16", "BMP", "GIF", "WEBP")
    assert np.abs(got - expected).mean() <= (3 if lossy else 0)
    if isinstance(GOOD[name], int):  # 6: turn 90° clockwise, 8: counter-clockwise, 3: 180° (Exif 2.32 Table 6)
        stored = tf.io.decode_jpeg(data).numpy()
        np.testing.assert_array_equal(got, np.rot90(stored, {6: -1, 8: 1, 3: 2}[GOOD[name]]))


def test_exif_orientation_in_both_byte_orders_and_in_the_serving_signature(photos: Path) -> None:
    array = _picture(24, 40)
    upright = {o: np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(_jpeg(Image.fromarray(array), o)))))
               for o in range(1, 9)}
    for orientation in range(1, 9):
        for data in (_jpeg(Image.fromarray(array), orientation), _big_endian_exif_jpeg(Image.fromarray(array),
                                                                                       orientation)):
            assert int(exif.jpeg_orientation(tf.constant(data))) == orientation
            got = preprocessing.decode(tf.constant(data), 3).numpy().astype(int)
            assert got.shape == upright[orientation].shape
            assert np.abs(got - upright[orientation]).mean() < 3
    for data in (b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", _encoded(array, "L"), os.urandom(500)):
        assert int(exif.jpeg_orientation(tf.constant(data))) == 1
    # No tensor made at import: a first import inside a SavedModel signature's trace would own it.
    assert not [name for name, value in vars(exif).items() if isinstance(value, tf.Tensor)]
    # The export's image_bytes signature decodes through the same function: a portrait photo arrives upright.
    data = (photos / "shirt" / "portrait6.jpg").read_bytes()
    served = Preprocessing(resize="pad").decode(tf.constant(data), (48, 48, 3)).numpy()
    decoded = preprocessing.decode(tf.constant(data), 3).numpy()
    np.testing.assert_array_equal(served, tf.image.resize_with_crop_or_pad(decoded, 48, 48).numpy())
    assert decoded.shape[0] > decoded.shape[1]


def test_scan_finds_every_undecodable_file_skips_or_fails_in_one_line(photos: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    source = datasets.load(str(photos))
    found = datasets.undecodable(sorted(str(photos / f) for f in _all_files(source)))
    assert sorted(os.path.relpath(f, photos) for f in found) == sorted(BAD)
    kept = datasets.drop_undecodable(source, "skip", tmp_path)
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and line.startswith(f"Skipping 3 of {len(_all_files(source))} files")
    assert all(name in line for name in BAD) and str(tmp_path / datasets.BAD_IMAGES_FILE) in line
    assert sorted((tmp_path / datasets.BAD_IMAGES_FILE).read_text().split()) == sorted(str(photos / b) for b in BAD)
    assert _all_files(kept) == _all_files(source) - set(BAD)
    assert sum(kept.info.num_examples[s] for s in ("train", "validation")) == len(_all_files(kept))
    for split in kept.info.num_examples:
        assert [os.path.basename(f).startswith(("0", "1")) for f in kept.files[split]] == [
            kept.info.class_names[label] in ("bag", "shoe") for label in kept.labels(split)]
    with pytest.raises(ValueError) as error:
        datasets.drop_undecodable(source, "fail", tmp_path)
    assert "\n" not in str(error.value) and "cannot be decoded" in str(error.value) and "`bad_images`" in str(
        error.value)
    datasets.drop_undecodable(kept, "skip", tmp_path)  # nothing bad left: the stale list goes
    assert not (tmp_path / datasets.BAD_IMAGES_FILE).exists()
    with pytest.raises(ValueError, match="`bad_images` must be one of"):
        datasets.drop_undecodable(kept, "ignore")
    images, labels = datasets.load_arrays(str(photos), "train", limit=None, image_size=16)  # the export's arrays
    assert images.shape == (kept.info.num_examples["train"], 16, 16, 3) and len(labels) == len(images)


def test_decoding_only_the_jpeg_crop_gives_the_crop_of_the_whole_image(photos: Path) -> None:
    """Random-resized crops of encoded files equal those of the decoded image (same seeds), rotated ones too;
    a window mapped back wrongly would differ everywhere."""
    for name in ("plain.jpg", "cmyk.jpg", "progressive.jpeg", "portrait6.jpg", "portrait8.jpg", "upside3.jpg",
                 "grey.png", "lossless.webp"):
        data = tf.constant((photos / "shirt" / name).read_bytes())
        for seed in range(4):
            seeds = tf.constant([seed, 7], tf.int64)
            cropped = transforms.imagenet_augment_encoded(data, 32, seeds).numpy()
            whole = transforms.imagenet_augment(preprocessing.decode(data, 3), 32, seeds).numpy()
            assert cropped.shape == (32, 32, 3) and cropped.dtype == np.uint8  # training batches carry uint8
            # libjpeg upsamples chroma from neighbouring samples, which a crop lacks at its edges only.
            difference = np.abs(cropped.astype(int) - whole)
            assert difference.mean() < 0.5 and difference.max() <= 12, (name, difference.mean(), difference.max())


def test_training_pipeline_reads_each_header_once_and_crops_as_the_decoded_image_does(photos: Path) -> None:
    """The training pipeline's fast path (headers read before the cache, the stored crop resized, then turned
    upright and flipped) gives the batches of the reference path (whole images decoded upright, then
    cropped), same seeds: rotated JPEGs, a CMYK and a progressive one, and other formats decoded whole."""
    names = ("plain.jpg", "cmyk.jpg", "progressive.jpeg", "portrait6.jpg", "portrait8.jpg", "upside3.jpg",
             "grey.png", "lossless.webp")
    files = [str(photos / "shirt" / name) for name in names]
    headers = [transforms.jpeg_header(tf.constant(Path(f).read_bytes())).numpy().tolist() for f in files]
    assert headers[3] == [1, 6, 48, 30] and headers[5] == [1, 3, 30, 48] and headers[6] == [0, 1, 0, 0]
    source = datasets.files_source(str(photos), ("shirt",), {"train": files}, {"train": np.zeros(len(files))})
    reference = dataclasses.replace(source, files=None)  # records alone: decoded whole, then cropped
    for seed in range(3):
        fast, slow = (next(iter(datasets.pipeline(s, "train", training=True, batch_size=len(files), image_size=16,
                                                  augment="imagenet", seed=seed)[0])) for s in (source, reference))
        np.testing.assert_array_equal(fast[1], slow[1])
        difference = np.abs(fast[0].numpy().astype(int) - slow[0].numpy())  # chroma upsampling at a crop's edges only
        assert difference.mean() < 0.5 and difference.max() <= 12, (seed, difference.mean(), difference.max())


def test_orient_folds_a_mirror_into_the_turn() -> None:
    """``exif.orient(image, o, mirror=True)`` is the upright image mirrored left-right, for all 8 orientations."""
    image = tf.constant(_picture(6, 10))
    for orientation in range(1, 9):
        upright = exif.orient(image, tf.constant(orientation)).numpy()
        mirrored = exif.orient(image, tf.constant(orientation), tf.constant(True)).numpy()
        np.testing.assert_array_equal(mirrored, upright[:, ::-1])


def test_splits_from_sub_folders_or_seeded_and_stratified(tmp_path: Path) -> None:
    pixel = _jpeg(Image.fromarray(_picture(8, 8)))
    for split, count in (("train", 5), ("val", 2), ("test", 3)):
        for cls in ("a", "b"):
            for i in range(count):
                _write(tmp_path / "nested" / split / cls / f"{i}.jpg", pixel)
    nested = datasets.load(str(tmp_path / "nested"))
    assert nested.info.num_examples == {"train": 10, "validation": 4, "test": 6}
    assert all("/val/" in f for f in nested.files["validation"]) and all("/test/" in f for f in nested.files["test"])
    with pytest.raises(ValueError, match="`validation_split` holds validation images out"):
        datasets.load(str(tmp_path / "nested"), validation_split=0.2)
    for cls, count in (("common", 40), ("rare", 10)):
        for i in range(count):
            _write(tmp_path / "flat" / cls / f"{i}.jpg", pixel)
    default = datasets.load(str(tmp_path / "flat"))
    assert default.info.num_examples == {"train": 45, "validation": 5, "test": 5}
    split = datasets.load(str(tmp_path / "flat"), validation_split=0.2, seed=1)
    assert np.bincount(split.labels("validation")).tolist() == [8, 2]  # stratified: 20 % of each class
    assert split.files == datasets.load(str(tmp_path / "flat"), validation_split=0.2, seed=1).files
    other = datasets.load(str(tmp_path / "flat"), validation_split=0.2, seed=2)
    assert set(other.files["validation"]) != set(split.files["validation"])
    assert not set(split.files["validation"]) & set(split.files["train"])
    with pytest.raises(ValueError, match="`validation_split` holds images out of a folder"):
        datasets.load("fashion_mnist", validation_split=0.1)
    counts = datasets.class_counts(split, "train")
    assert counts.tolist() == [32, 8]
    weights = datasets.balanced_class_weight(counts)
    assert weights == {0: 40 / (2 * 32), 1: 40 / (2 * 8)}
    assert datasets.class_counts(split, "train", classes=(1,)).tolist() == [8]
    table = datasets.class_counts_table(split)
    assert "2 classes" in table and "common" in table.splitlines()[1] and "32" in table.splitlines()[1]


def _train(capfd: pytest.CaptureFixture, args: list[str], model_dir: Path) -> tuple[int, str, str]:
    """The training command line on a tiny net, in this process; its status, stdout and stderr (the descriptors'
    too: whatever a decoder prints)."""
    status = run_training_cli("--model", "resnet8", "--width_multiplier", "0.25", "--epochs", "1",
                              "--global_batch_size", "8", "--image_size", "32", "--model_dir", str(model_dir), *args)
    out, err = capfd.readouterr()
    return status, out, err


def test_training_command_line_on_a_photo_folder(photos: Path, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    status, out, err = _train(capfd, ["--dataset", str(photos), "--augment", "imagenet", "--class_weight", "balanced",
                                      "--validation_split", "0.25"], tmp_path / "skip")
    assert status == 0, err[-3000:]
    assert "Traceback" not in out + err
    assert f"Skipping 3 of {len(GOOD) + 18 + 3} files" in out and "3 classes" in out
    assert len((tmp_path / "skip" / datasets.BAD_IMAGES_FILE).read_text().splitlines()) == 3
    assert (tmp_path / "skip" / "final.keras").is_file()
    status, out, err = _train(capfd, ["--dataset", str(photos), "--bad_images", "fail"], tmp_path / "fail")
    assert status == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: 3 of ")
    assert not (tmp_path / "fail" / "final.keras").exists()


def test_photo_flags_parse_into_the_config_and_bad_values_are_refused_in_one_line() -> None:
    from keras_resnet.training import TrainConfig, cli

    config = cli.parse(["prog", "--validation_split", "0.2", "--class_weight", "balanced", "--bad_images", "fail"])
    assert (config.validation_split, config.class_weight, config.bad_images) == (0.2, "balanced", "fail")
    assert cli.parse(["prog"]).validation_split is None
    for field, value in (("validation_split", 1.0), ("validation_split", 0), ("class_weight", "inverse"),
                         ("bad_images", "ignore")):
        with pytest.raises(ValueError, match=f"`{field}` must be"):
            TrainConfig(**{field: value})
