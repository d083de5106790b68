"""Export any Keras 3 image classifier for TF Serving and LiteRT/TFLite, with a retention report.

Knows nothing about architectures: it takes a ``keras.Model`` or a ``.keras``
file. Python API::

    from export import export_model

    report = export_model(
        "runs/resnet20/final.keras", "exports/resnet20", dataset="fashion_mnist",
        custom_modules=["keras_resnet.layers"],
    )

or, for any classifier, with ``.npz`` files of model-ready arrays
(``eval_data="test.npz", calibration_data="train.npz", labels="labels.txt"``)
and its ``preprocessing=Preprocessing(...)``.

The CLI is ``python -m export`` (see :mod:`export.cli`). Importing this
package does not import TensorFlow; :func:`export_model` does.
"""

from typing import Any

from export.choices import FORMATS
from export.choices import VARIANTS as QUANTIZATIONS
from export.errors import ExportError
from export.preprocessing import RESIZE_METHODS, Preprocessing

__all__ = ["FORMATS", "QUANTIZATIONS", "RESIZE_METHODS", "TARGETS", "ExportError", "Preprocessing", "export_model"]


def __getattr__(name: str) -> Any:
    """``export_model`` and ``TARGETS`` on first use (they import TensorFlow and matplotlib)."""
    if name == "export_model":
        from keras_resnet.tensorflow_only import require_tensorflow

        require_tensorflow("export")
        from export.pipeline import export_model

        return export_model
    if name == "TARGETS":
        from export.report import TARGETS

        return TARGETS
    raise AttributeError(f"module 'export' has no attribute {name!r}")
