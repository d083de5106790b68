"""The EXIF orientation of JPEG bytes, read and applied in TensorFlow ops.

Phone cameras store the sensor's pixels as they come and record in the EXIF
``Orientation`` tag (0x0112 of IFD0, in the JPEG's APP1 segment) how a viewer
must turn them; ``tf.io.decode_image`` ignores the tag, so a portrait photo
would reach the net on its side. Training (:mod:`keras_resnet.datasets`) and
the export's ``image_bytes`` signature both decode through
:func:`keras_resnet.preprocessing.decode`, which applies :func:`orient`.

Everything here is graph ops on the encoded string (no Python, no
py_function), so it runs inside ``tf.data`` and in a SavedModel. Bytes that
are not a JPEG with a well-formed tag read as orientation 1 (as stored).

Source: CIPA DC-008 (Exif 2.32) §4.6.4 A, tag 274 "Orientation", values 1-8;
TIFF 6.0 §2 for the byte order and IFD layout.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# Orientation value -> (transpose, flip up-down, flip left-right), applied to the stored pixels in this order,
# giving the upright image (Exif 2.32 Table 6: 6 is "0th row = visual right-hand side", a 90° clockwise turn).
ORIENTATIONS = {
    1: (False, False, False),
    2: (False, False, True),
    3: (False, True, True),
    4: (False, True, False),
    5: (True, False, False),
    6: (True, False, True),
    7: (True, True, True),
    8: (True, True, False),
}
ORIENTATION_TAG = 0x0112
HEADER_BYTES = 4096  # the tag is read within the file's first bytes (SOI, APP0, APP1 and IFD0 come first)
MAX_SEGMENTS = 3  # marker segments looked at for the Exif APP1 (SOI's neighbour, else after APP0 or one more)
MAX_ENTRIES = 64  # IFD0 entries searched for the tag
_APP1 = (0xFF, 0xE1, 0, 0, *b"Exif", 0, 0)  # marker, length (any), identifier
_APP1_MASK = (1, 1, 0, 0, 1, 1, 1, 1, 1, 1)
# NumPy, not tensors: a tensor made at import belongs to the graph being traced if the first import happens
# inside a tf.function (e.g. a SavedModel signature), and could not be used anywhere else.
_PLACES = np.array([1, 256, 256**2, 256**3], np.int64)  # little-endian place values
_ENTRY = np.arange(MAX_ENTRIES, dtype=np.int64)
# Offsets from IFD0 of its entry count (row 0) and of each entry's tag and value (2 bytes each, 12-byte entries).
_IFD_BYTES = np.array([[[0, 1], [0, 1]]] + [[[2 + 12 * k, 3 + 12 * k], [10 + 12 * k, 11 + 12 * k]]
                                            for k in range(MAX_ENTRIES)], np.int64)
_STEPS = np.array([[False] * 3] + [list(ORIENTATIONS[k]) for k in range(1, 9)])


def jpeg_orientation(encoded: tf.Tensor) -> tf.Tensor:
    """The EXIF orientation (int32 in 1..8) of one encoded image (scalar string); 1 when it has none.

    Looks for the "Exif" APP1 segment among the first :data:`MAX_SEGMENTS` marker segments (Exif 2.32
    §4.5.4 puts it right after SOI, or after JFIF's APP0), reads its TIFF header's byte order and IFD0
    offset, then the first :data:`MAX_ENTRIES` IFD0 entries for tag 0x0112, all within the first
    :data:`HEADER_BYTES` bytes, in few graph ops (with one gather per step), as this runs on every
    training image and a walk in ``tf.while_loop`` costs more than decoding a small JPEG.
    """
    data = tf.io.decode_raw(tf.strings.substr(encoded, 0, HEADER_BYTES), tf.uint8)
    size = tf.size(data, out_type=tf.int64)
    data = tf.concat([tf.cast(data, tf.int64), tf.zeros([1], tf.int64)], 0)

    def at(offsets: tf.Tensor) -> tf.Tensor:  # bytes at non-negative offsets; 0 past the data
        return tf.gather(data, tf.minimum(offsets, size))

    starts = [tf.constant(2, tf.int64)]  # after SOI
    for _ in range(MAX_SEGMENTS - 1):  # a segment: marker (2 bytes), big-endian length (2), payload
        starts.append(starts[-1] + 2 + tf.reduce_sum(at(starts[-1] + [2, 3]) * [256, 1]))
    starts = tf.stack(starts)
    match = tf.reduce_all(tf.equal(at(starts[:, None] + tf.range(len(_APP1), dtype=tf.int64)) * _APP1_MASK, _APP1), 1)
    is_exif = tf.reduce_any(match) & tf.reduce_all(tf.equal(data[:2], [0xFF, 0xD8]))
    tiff = tf.gather(starts, tf.argmax(tf.cast(match, tf.int32))) + len(_APP1)
    header = at(tiff + tf.range(8, dtype=tf.int64))  # byte order ("II": Intel, "MM": Motorola), 42, IFD0 offset
    little = tf.equal(header[0], 0x49)
    ifd = tiff + tf.reduce_sum(header[4:] * tf.where(little, _PLACES, _PLACES[::-1]))
    pairs = tf.reduce_sum(at(ifd + _IFD_BYTES) * tf.where(little, _PLACES[:2], _PLACES[1::-1]), -1)
    count, tags, values = pairs[0, 0], pairs[1:, 0], pairs[1:, 1]  # values: a SHORT's first two bytes
    found = tf.equal(tags, ORIENTATION_TAG) & (values >= 1) & (values <= 8) & (count > _ENTRY) & is_exif
    return tf.cast(tf.reduce_max(tf.where(found, values, tf.constant(1, tf.int64))), tf.int32)


def _steps(orientation: tf.Tensor) -> tf.Tensor:
    return tf.gather(_STEPS, tf.clip_by_value(orientation, 0, 8))


def orient(image: tf.Tensor, orientation: tf.Tensor, mirror: tf.Tensor | bool = False) -> tf.Tensor:
    """Turn stored pixels ``(H, W, C)`` upright as EXIF ``orientation`` says, then mirror them left-right if
    ``mirror`` (a training flip, folded into the same reversal); orientation 1 unmirrored is not copied."""
    mirror = tf.convert_to_tensor(mirror, tf.bool)

    def turn() -> tf.Tensor:
        steps = _steps(orientation)
        turned = tf.transpose(image, tf.where(steps[0], [1, 0, 2], [0, 1, 2]))
        return tf.reverse(turned, tf.boolean_mask(tf.constant([0, 1]), [steps[1], tf.not_equal(steps[2], mirror)]))

    return tf.cond(tf.equal(orientation, 1) & tf.logical_not(mirror), lambda: tf.identity(image), turn)


def oriented_shape(stored_shape: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """``(H, W, C)`` of the upright image, from the stored image's shape."""
    transpose = _steps(orientation)[0]
    return tf.where(transpose, tf.gather(stored_shape, [1, 0, 2]), stored_shape)


def stored_window(begin: tf.Tensor, extent: tf.Tensor, orientation: tf.Tensor, upright_shape: tf.Tensor
                  ) -> tf.Tensor:
    """The crop window ``[y, x, height, width]`` of the stored pixels that, turned upright by
    :func:`orient`, is the window ``begin`` / ``extent`` (``[y, x]`` / ``[height, width]``) of the upright image."""
    transpose, flip_rows, flip_columns = tf.unstack(_steps(orientation))
    y = tf.where(flip_rows, upright_shape[0] - begin[0] - extent[0], begin[0])
    x = tf.where(flip_columns, upright_shape[1] - begin[1] - extent[1], begin[1])
    window = tf.stack([y, x, extent[0], extent[1]])
    return tf.where(transpose, tf.gather(window, [1, 0, 3, 2]), window)
