"""Export any Keras 3 image classifier for TF Serving, LiteRT/TFLite and onnxruntime, with a retention report.

Knows nothing about architectures: it takes a ``keras.Model`` or a ``.keras``
file. Python API::

    from export import ExportData, ExportOptions, QatOptions, export_model

    report = export_model(
        "runs/resnet20/final.keras", "exports/resnet20",
        options=ExportOptions(custom_modules=("keras_resnet.layers",), qat=QatOptions(epochs=1)),
        data=ExportData(dataset="fashion_mnist"),
    )

or, for any classifier, with ``.npz`` files (or arrays) of model-ready images
(``ExportData(eval_data="test.npz", calibration_data="train.npz",
labels="labels.txt")``) and its ``ExportOptions(preprocessing=Preprocessing(...))``.

The CLI is ``python -m export`` (see :mod:`export.cli`). Importing this
package does not import TensorFlow; :func:`export_model` does.
"""

from typing import Any

from export.errors import ExportError
from export.options import FORMATS, CalibrationOptions, ExportData, ExportOptions, QatOptions
from export.serving_preprocessing import RESIZE_METHODS, Preprocessing
from export.variants import GRANULARITIES, VARIANTS

__all__ = ["FORMATS", "GRANULARITIES", "RESIZE_METHODS", "TARGETS", "VARIANTS", "CalibrationOptions", "ExportData",
           "ExportError", "ExportOptions", "Preprocessing", "QatOptions", "export_model"]


def __getattr__(name: str) -> Any:
    """``export_model`` and ``TARGETS`` on first use (they import TensorFlow and matplotlib)."""
    if name == "export_model":
        from keras_resnet.tensorflow_only import require_tensorflow

        require_tensorflow("export")
        from export.pipeline import export_model

        return export_model
    if name == "TARGETS":
        from export.retention_report import TARGETS

        return TARGETS
    raise AttributeError(f"module 'export' has no attribute {name!r}")
