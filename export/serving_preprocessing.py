"""How the ``image_bytes`` signature turns an encoded image into the model's input.

The decoding, channel conversion and size rule are
:mod:`keras_resnet.preprocessing`'s, the ones training's evaluation uses.
Steps 2-3 (:meth:`Preprocessing.prepare`) are also what the export's
evaluation and calibration images of a dataset go through
(:mod:`export.data`), so every artifact is measured, and every integer file
calibrated, on images prepared as the served ones are (as Model Garden
derives serving preprocessing from the training config). For one encoded
JPEG/PNG/GIF/BMP/WebP image:

1. decode to uint8 with the model's channels (grey images become RGB by
   repetition, colour ones grey), a JPEG turned upright as its EXIF
   orientation says (a phone's portrait photo arrives as it was shot);
2. bring it to the model's height x width:

   * ``resize="auto"`` (default): ``"fit"`` with the training run's
     ``short_side`` when its ``config.json`` lies beside the ``.keras`` file
     (read by :func:`keras_resnet.training.config.read_run_config`, see
     :func:`resolve`; a run fine-tuned from pretrained weights records their
     evaluation ``transform``, whose resize, interpolation and centre crop
     are then used), else with training's ``short_side`` for the dataset the
     export is measured on, else ``"fit"`` with the default ``short_side``;
   * ``resize="fit"``: scale the shorter side to ``short_side``
     (keeping the aspect ratio), then centre-crop or zero-pad; any image
     size works and reaches the net at one scale. ``short_side`` defaults to
     the ImageNet-style ``size / 0.875`` (256 for 224);
   * ``resize="pad"``: centre-pad with zeros or centre-crop, never scale;
   * ``bilinear``, ``nearest``, ``bicubic``, ``area``: stretch to the size
     with ``tf.image.resize`` (aspect ratio not kept);

3. ``x = (pixels * pixel_scale - pixel_mean) / pixel_std`` per channel, in float32.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from export.errors import ExportError

RESIZE_METHODS = ("auto", "fit", "pad", "bilinear", "nearest", "bicubic", "area")
RUN_KEYS = ("dataset", "image_size")  # what a run record must hold to set the resize rule


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Decode, resize and normalise encoded images (see the module docstring).

    The size and channels are the model's; ``pixel_mean`` and ``pixel_std`` have one
    value or one per channel. The defaults feed raw pixel values (0-255 as
    float32), as keras.applications and keras_resnet models expect.
    ``transform`` is a :class:`keras_resnet.transform.Transform` as a dict
    (from the run's ``config.json``): ``"fit"`` then resizes and crops as it says.
    """

    resize: str = "auto"
    short_side: int | None = None
    pixel_scale: float = 1.0
    pixel_mean: tuple[float, ...] = (0.0,)
    pixel_std: tuple[float, ...] = (1.0,)
    transform: dict[str, Any] | None = None

    def check(self, channels: int) -> None:
        """Raise :class:`ExportError` unless this fits a model input with ``channels`` channels."""
        if self.resize not in RESIZE_METHODS:
            raise ExportError("resize", f"must be one of {RESIZE_METHODS}; received {self.resize!r}")
        if self.short_side is not None and (self.resize != "fit" or self.short_side < 1):
            raise ExportError("short_side", f"is a positive side for resize='fit'; received {self.short_side!r} "
                              f"with resize={self.resize!r}")
        if channels not in (1, 3):
            raise ExportError("model", f"encoded images decode to 1 or 3 channels; the model takes {channels}")
        for name in ("pixel_mean", "pixel_std"):
            values = tuple(getattr(self, name))
            if len(values) not in (1, channels):
                raise ExportError(name, f"needs 1 or {channels} values (the model's channels); received {values}")
        for name in ("pixel_scale", "pixel_std"):
            if np.min(getattr(self, name)) <= 0:
                raise ExportError(name, f"must be positive; received {getattr(self, name)}")

    def pixel_normalization(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` per channel with ``x = (pixels - mean) / std`` on 0-255 pixels (TFLite metadata's form)."""
        scale = float(self.pixel_scale)
        mean = np.broadcast_to(np.asarray(self.pixel_mean, np.float64) / scale, (channels,))
        std = np.broadcast_to(np.asarray(self.pixel_std, np.float64) / scale, (channels,))
        return mean.astype(np.float32), std.astype(np.float32)

    def pixels(self, x: np.ndarray) -> np.ndarray:
        """Model-ready images back to their 0-255 pixel values (float32; inverse of step 3)."""
        mean, std = self.pixel_normalization(x.shape[-1])
        return (x * std + mean).astype(np.float32)

    def decode(self, encoded: Any, shape: tuple[int, int, int]) -> Any:
        """One encoded image (a scalar string tensor) -> float32 model input of ``shape`` (H, W, C): steps 1-3."""
        from keras_resnet import preprocessing as shared

        return self.prepare(shared.decode(encoded, shape[2]), shape)

    def prepare(self, image: Any, shape: tuple[int, int, int]) -> Any:
        """One decoded image (H, W, C) of any size -> float32 model input of ``shape``: steps 2-3."""
        import tensorflow as tf

        from keras_resnet import preprocessing as shared

        height, width, _ = shape
        if self.resize in ("auto", "fit") and self.transform and height == width:
            from keras_resnet.transform import Transform

            image = Transform.from_dict(self.transform).resize_crop(image, height)
        elif self.resize in ("auto", "fit"):
            short_side = self.short_side or shared.crop_short_side(min(height, width))
            image = shared.fit(image, (height, width), short_side)
        elif self.resize == "pad":
            image = tf.cast(tf.image.resize_with_crop_or_pad(image, height, width), tf.float32)
        else:
            image = tf.cond(
                tf.reduce_all(tf.shape(image)[:2] == [height, width]),
                lambda: tf.cast(image, tf.float32),
                lambda: tf.image.resize(image, [height, width], method=self.resize),
            )
        image = tf.cast(image, tf.float32) * self.pixel_scale
        image = (image - tf.constant(self.pixel_mean, tf.float32)) / tf.constant(self.pixel_std, tf.float32)
        return tf.ensure_shape(image, shape)


def resolve(preprocessing: Preprocessing, run: dict[str, Any] | None, dataset: str | None = None,
            size: int | None = None) -> Preprocessing:
    """``preprocessing`` with ``resize="auto"`` made concrete for a model whose training run recorded ``run``.

    ``run`` is the model's run record (``config.json``, from
    :func:`keras_resnet.training.config.read_run_config`) or ``None``; a
    record without :data:`RUN_KEYS` (not a keras_resnet run) counts as none.
    Without one, the ``dataset`` the model is measured on (a
    ``keras_resnet.datasets`` name), at the model's input side ``size``,
    stands for the run: training's rule on its images.
    """
    if preprocessing.resize != "auto":
        return preprocessing
    if run is not None and all(key in run for key in RUN_KEYS):
        return from_run_config(run, preprocessing)
    if dataset is not None and size is not None:
        return from_run_config({"dataset": dataset, "image_size": size}, preprocessing)
    return dataclasses.replace(preprocessing, resize="fit")


def from_run_config(config: dict[str, Any], base: Preprocessing) -> Preprocessing:
    """``base`` with ``resize="fit"`` at the run's ``short_side``: training's rule on its dataset's image size.

    keras_resnet models take raw pixels (normalisation is inside the model),
    so the pixel scale, mean and std stay ``base``'s. A run fine-tuned from
    pretrained weights gives their evaluation transform (its normalisation is
    the model's ``preprocess`` layer; its resize and crop are served).
    """
    if config.get("transform"):
        return dataclasses.replace(base, resize="fit", transform=config["transform"])
    from keras_resnet import datasets
    from keras_resnet.preprocessing import serving_short_side

    try:
        native = datasets.load(config["dataset"], config.get("data_dir")).info.image_shape
    except (ValueError, datasets.DatasetUnavailableError) as exc:
        raise ExportError("resize", f"the run config names dataset {config['dataset']!r}, which cannot be read "
                          f"here ({exc}); pass --resize (and --short_side)") from exc
    return dataclasses.replace(base, resize="fit", short_side=serving_short_side(native, int(config["image_size"])))
