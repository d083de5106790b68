"""Export any Keras 3 image classifier for TF Serving and LiteRT/TFLite, with a retention report.

Knows nothing about architectures: it takes a ``keras.Model`` or a ``.keras``
file. Python API::

    from export import Preprocessing, export_model

    report = export_model(
        "model.keras", "exports/resnet20",
        eval_data="test.npz", calibration_data="train.npz",
        labels="labels.txt", preprocessing=Preprocessing(resize="pad"),
        custom_modules=["keras_resnet.layers"],
    )

The CLI is ``python -m export`` (see :mod:`export.cli`).
"""

from export.errors import ExportError
from export.pipeline import FORMATS, QUANTIZATIONS, export_model
from export.preprocessing import RESIZE_METHODS, Preprocessing
from export.report import TARGETS

__all__ = ["FORMATS", "QUANTIZATIONS", "RESIZE_METHODS", "TARGETS", "ExportError", "Preprocessing", "export_model"]
