"""The weights' evaluation transform against the publishers' documented semantics, on scikit-image's photos.

The reference is written here from the publishers' descriptions, on PIL:
torchvision's ``ImageClassification`` (``transforms/_presets.py``: ``Resize(resize_size)`` of the shorter side,
bilinear, ``CenterCrop(crop_size)``, ``[0, 1]``, ``Normalize(mean, std)``) and timm's
``transforms_imagenet_eval`` (``Resize(floor(size / crop_pct))``, bicubic, then the same). PIL resamples to
uint8 (up to half a grey level of rounding), TensorFlow keeps floats, and the two libraries' kernels differ at
the image border, so the tensors agree to a grey level or a few, not to float precision.
"""

import numpy as np
import pytest
import skimage.data
from PIL import Image

import keras_resnet as kr
from keras_resnet import imagenet
from keras_resnet import weights_catalog as catalog
from keras_resnet.transform import Transform

tf = pytest.importorskip("tensorflow")

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")
PIL_FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def reference(image: np.ndarray, t: Transform) -> np.ndarray:
    """torchvision's / timm's evaluation transform on PIL, from their documented steps."""
    pil = Image.fromarray(image)
    width, height = pil.size
    long_side = int(t.resize * max(width, height) / min(width, height))  # torchvision's Resize(int) rule
    pil = pil.resize((t.resize, long_side) if width <= height else (long_side, t.resize), PIL_FILTERS[t.interpolation])
    top, left = (int(round((side - t.size) / 2.0)) for side in (pil.size[1], pil.size[0]))  # F.center_crop
    pil = pil.crop((left, top, left + t.size, top + t.size))
    x = (np.asarray(pil, np.float64) / 255 - np.array(t.mean) / 255) / (np.array(t.std) / 255)
    return (x[..., ::-1] if t.channel_order == "bgr" else x).astype(np.float32)


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {name: getattr(skimage.data, name)() for name in PHOTOS}


# Bounds in grey levels (0-255 pixels): bilinear, PIL's uint8 rounding plus kernel edges; bicubic overshoots
# differently at sharp edges before clipping.
@pytest.mark.parametrize("name, max_grey, mean_grey", [
    ("torchvision:resnet50.IMAGENET1K_V2", 1.5, 0.5),
    ("torchvision:resnet18.IMAGENET1K_V1", 1.5, 0.5),
    ("timm:resnet50.a1_in1k", 10.0, 0.5),
    ("timm:resnet101d.ra2_in1k", 10.0, 0.5),
    ("keras:resnet50", 1.5, 0.5),
])
def test_transform_matches_the_publishers_reference(photos, name, max_grey, mean_grey):
    t = catalog.BY_NAME[name].transform
    diffs = []
    for image in photos.values():
        ours = np.asarray(t(tf.constant(image)))
        assert ours.shape == (t.size, t.size, 3)
        diffs.append(np.abs(ours - reference(image, t)) * np.array(t.std))  # back to grey levels
    diffs = np.stack(diffs)
    print(f"{name}: normalised-tensor |diff| mean {diffs.mean():.3f}, max {diffs.max():.3f} grey levels")
    assert diffs.max() <= max_grey and diffs.mean() <= mean_grey


def test_logits_of_a_net_fed_both_agree(photos):
    t = catalog.BY_NAME["torchvision:resnet18.IMAGENET1K_V1"].transform
    ours = np.stack([np.asarray(t(tf.constant(image))) for image in photos.values()])
    refs = np.stack([reference(image, t) for image in photos.values()])
    model = kr.ResNet18(weights=None, classifier_activation=None)
    a, b = np.asarray(model(ours, training=False)), np.asarray(model(refs, training=False))
    scale = np.abs(b).max()
    print(f"ResNet-18 logits: |diff| mean {np.abs(a - b).mean() / scale:.2e}, max {np.abs(a - b).max() / scale:.2e} "
          f"of the largest logit ({scale:.3g})")
    assert np.abs(a - b).max() <= 0.02 * scale
    assert (a.argmax(1) == b.argmax(1)).all()


def test_round_trip_and_preprocess_input_share_the_normalisation():
    for entry in catalog.ENTRIES:
        assert Transform.from_dict(entry.transform.to_dict()) == entry.transform
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype(np.float32)
    for name, mode in (("keras:resnet50", "caffe"), ("keras:resnet50v2", "tf"),
                       ("torchvision:resnet50.IMAGENET1K_V2", "torch")):
        np.testing.assert_allclose(imagenet.preprocess_input(pixels, mode=name),
                                   imagenet.preprocess_input(pixels, mode=mode), atol=2e-6)
        np.testing.assert_array_equal(imagenet.preprocess_input(pixels, mode=catalog.BY_NAME[name].transform),
                                      imagenet.preprocess_input(pixels, mode=name))
    with pytest.raises(ValueError, match="unknown weights 'timm:nope'"):
        imagenet.preprocess_input(pixels, mode="timm:nope")


def test_short_side_keeps_the_ratio_and_bad_transforms_fail():
    t = catalog.BY_NAME["timm:resnet50.a1_in1k"].transform
    assert (t.resize, t.short_side(224), t.short_side(160)) == (235, 235, 167)  # floor(160 / (224 / 235))
    with pytest.raises(ValueError, match="`interpolation` must be one of"):
        Transform(224, 256, "nearest", (0.0,) * 3, (1.0,) * 3)
    with pytest.raises(ValueError, match="crops `size` <= `resize`"):
        Transform(224, 200, "bilinear", (0.0,) * 3, (1.0,) * 3)


def test_the_export_serves_a_runs_transform(photos):
    from export.serving_preprocessing import Preprocessing, from_run_config

    t = catalog.BY_NAME["timm:resnet50.a1_in1k"].transform
    served = from_run_config({"dataset": "not read", "image_size": 64, "transform": t.to_dict()}, Preprocessing())
    assert served.resize == "fit" and Transform.from_dict(served.transform) == t
    assert (served.pixel_mean, served.pixel_std) == ((0.0,), (1.0,))  # the normalisation is inside the model
    image = photos["chelsea"]
    got = served.decode(tf.io.encode_png(image), (64, 64, 3))
    np.testing.assert_array_equal(got, t.resize_crop(tf.constant(image), 64))
