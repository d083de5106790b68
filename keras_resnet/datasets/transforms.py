"""Per-image transforms of the input pipeline, all in ``tf.data`` with stateless ops.

The training augmentations return uint8 pixels (resampled values rounded, as
PIL and torchvision's transforms give them): a batch of them is a quarter of
float32's bytes to batch, prefetch and copy to an accelerator, and the model
casts its input to float32 itself. Evaluation keeps the float32 transform it
shares with serving, so an evaluated image is a served one exactly.

* evaluation: :func:`~keras_resnet.preprocessing.to_rgb` then
  :func:`~keras_resnet.preprocessing.fit_to_size` (28x28 is zero-padded to
  32x32; larger images are resized and center-cropped), shared with serving;
* ``"cifar"`` augmentation (paper §4.2): 4-pixel zero padding, random crop,
  horizontal flip;
* ``"imagenet"`` augmentation (paper §3.4): random-resized crop (scale
  8-100 %, aspect 3/4-4/3; the common stand-in for the paper's shorter side
  in [256, 480]) and flip; on encoded JPEGs only the crop is decoded
  (:func:`imagenet_augment_encoded`).
"""

from __future__ import annotations

import tensorflow as tf

from keras_resnet import exif
from keras_resnet.preprocessing import decode, fit_to_size, to_rgb  # the one evaluation/serving transform

CIFAR_PAD = 4          # §4.2: "4 pixels are padded on each side"


def cifar_augment(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """§4.2: pad 4 pixels on each side, random ``size`` crop, random horizontal flip, to uint8."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    image = to_pixels(fit_to_size(image, size))
    image = tf.image.resize_with_crop_or_pad(image, size + 2 * CIFAR_PAD, size + 2 * CIFAR_PAD)
    image = tf.image.stateless_random_crop(image, (size, size, image.shape[-1]), crop_seed)
    return tf.image.stateless_random_flip_left_right(image, flip_seed)


def _random_box(shape: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``begin`` and ``extent`` (``[y, x, 0]`` / ``[h, w, -1]``) of a random-resized crop of an image of ``shape``."""
    begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
        shape, tf.zeros((1, 0, 4)), seed, min_object_covered=0.0,
        aspect_ratio_range=(3 / 4, 4 / 3), area_range=(0.08, 1.0), max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    return begin, extent


def to_pixels(image: tf.Tensor) -> tf.Tensor:
    """Float pixel values in [0, 255] rounded to uint8."""
    return tf.cast(tf.round(image), tf.uint8)


def _resize(crop: tf.Tensor, size: int) -> tf.Tensor:
    """Bilinear resize without antialiasing to uint8 pixels, as TF Model Garden's ImageNet input: crops of
    photos of ImageNet's ~500x375 are at most ~2x the output side, where antialiasing changes little and
    costs more than decoding the crop. TensorFlow's CPU kernel is faster on float32 than on uint8 pixels,
    even counting the cast (the values are the same); bilinear weights keep them in [0, 255]."""
    resized = to_pixels(tf.image.resize(tf.cast(crop, tf.float32), (size, size)))
    return tf.ensure_shape(resized, (size, size, crop.shape[-1]))


def _mirror(seed: tf.Tensor) -> tf.Tensor:
    """The random horizontal flip's draw: true for half of the seeds."""
    return tf.random.stateless_uniform([], seed) < 0.5


def imagenet_augment(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """§3.4 scale augmentation as random-resized crop (8-100 % area, aspect 3/4-4/3) + flip, to uint8."""
    box_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    begin, extent = _random_box(tf.shape(image), box_seed)
    resized = _resize(tf.slice(image, begin, extent), size)
    return tf.cond(_mirror(flip_seed), lambda: tf.reverse(resized, [1]), lambda: resized)


def jpeg_header(encoded: tf.Tensor) -> tf.Tensor:
    """What :func:`imagenet_augment_encoded` needs from an encoded image's header, read once per file when
    the files are cached (it costs a fair share of decoding a crop): int32 ``[is JPEG, EXIF orientation,
    upright height, upright width]`` (``[0, 1, 0, 0]`` for other formats)."""
    def read() -> tf.Tensor:
        orientation = exif.jpeg_orientation(encoded)
        upright = exif.oriented_shape(tf.image.extract_jpeg_shape(encoded), orientation)
        return tf.concat([[1, orientation], upright[:2]], 0)

    return tf.cond(tf.io.is_jpeg(encoded), read, lambda: tf.constant([0, 1, 0, 0]))


def imagenet_augment_encoded(encoded: tf.Tensor, size: int, seed: tf.Tensor, header: tf.Tensor | None = None
                             ) -> tf.Tensor:
    """:func:`imagenet_augment` of an encoded RGB image; a JPEG has only its crop decoded.

    The crop is drawn in the upright image (EXIF orientation applied) from the
    header alone (``header``: :func:`jpeg_header`, read here if not given) and
    mapped back to the stored pixels, so ``tf.image.decode_and_crop_jpeg``
    skips the rest of the image, as TF Model Garden's ImageNet input does. The
    stored crop is resized to the square output first and only then turned
    upright and flipped (the same pixels, as a square stays a square), so the
    turn and the flip are one reversal of the small output. The result equals
    decoding the whole image first (but for chroma upsampling at the crop's
    edges). Other formats are decoded whole.
    """
    header = jpeg_header(encoded) if header is None else header

    def whole() -> tf.Tensor:
        return imagenet_augment(to_rgb(decode(encoded, 3)), size, seed)

    def jpeg_crop() -> tf.Tensor:
        box_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
        orientation, upright = header[1], tf.concat([header[2:], [3]], 0)
        begin, extent = _random_box(upright, box_seed)
        window = exif.stored_window(begin[:2], extent[:2], orientation, upright)
        crop = tf.ensure_shape(tf.image.decode_and_crop_jpeg(encoded, window, channels=3), (None, None, 3))
        return tf.ensure_shape(exif.orient(_resize(crop, size), orientation, _mirror(flip_seed)), (size, size, 3))

    return tf.cond(tf.equal(header[0], 1), jpeg_crop, whole)
