"""Per-class precision, recall and F1 with the confusion matrix: what the end
of a training run and ``python -m keras_resnet.evaluate`` report, from the
predictions of :func:`predict`.

Precision, recall and F1 as in scikit-learn's ``classification_report``
(van Rijsbergen 1979 for F1); a class without predictions (or without
examples) has no precision (recall): ``None`` in JSON, ``-`` on screen,
rather than scikit-learn's 0 with a warning. NumPy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

MAX_TABLE_CLASSES = 100  # more classes: the per-class table is in the JSON only
MAX_MATRIX_CLASSES = 20  # more classes: the confusion matrix is in the JSON only


def predict(model: keras.Model, data: Any) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and labels for every batch of ``data`` (a ``tf.data`` dataset of (images, labels)
    in a fixed order). ``model.predict`` rather than a loop of ``predict_on_batch``, so that a model built
    under a ``tf.distribute`` strategy predicts each image once."""
    labels = np.concatenate([batch_labels for _, batch_labels in data.as_numpy_iterator()])
    probs = model.predict(data.map(lambda images, _: images), verbose=0)
    return np.asarray(probs, np.float64), labels


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class): rows true, columns predicted."""
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (np.asarray(labels, np.int64), np.asarray(predicted, np.int64)), 1)
    return confusion


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> list[float | None]:
    return [None if d == 0 else float(n / d) for n, d in zip(numerator, denominator, strict=True)]


def per_class(confusion: np.ndarray) -> dict[str, list[Any]]:
    """``precision``, ``recall``, ``f1`` and ``support`` (true examples) of each class."""
    confusion = np.asarray(confusion, np.int64)
    hits = np.diag(confusion)
    precision = _ratio(hits, confusion.sum(axis=0))
    recall = _ratio(hits, confusion.sum(axis=1))
    f1 = [None if p is None or r is None else (0.0 if p + r == 0 else 2 * p * r / (p + r))
          for p, r in zip(precision, recall, strict=True)]
    return {"precision": precision, "recall": recall, "f1": f1, "support": confusion.sum(axis=1).tolist()}


def class_report(labels: np.ndarray, predicted: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """The JSON record: ``class_names``, ``per_class`` (see :func:`per_class`) and ``confusion_matrix``."""
    confusion = confusion_matrix(labels, predicted, len(class_names))
    return {"class_names": list(class_names), "per_class": per_class(confusion), "confusion_matrix": confusion.tolist()}


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_report(report: dict[str, Any]) -> str:
    """:func:`class_report`'s record as text: a per-class table and the confusion matrix."""
    names, stats, confusion = report["class_names"], report["per_class"], report["confusion_matrix"]
    if len(names) > MAX_TABLE_CLASSES:
        return f"per-class precision, recall, F1 and the confusion matrix of {len(names)} classes: in the JSON"
    width = max(len("class"), *(len(f"{i} {n}") for i, n in enumerate(names)))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for i, name in enumerate(names):
        lines.append(f"{f'{i} {name}':<{width}}  {_cell(stats['precision'][i]):>9}  {_cell(stats['recall'][i]):>6}  "
                     f"{_cell(stats['f1'][i]):>6}  {stats['support'][i]:>7}")
    if len(names) > MAX_MATRIX_CLASSES:
        return "\n".join([*lines, f"confusion matrix of {len(names)} classes: in the JSON"])
    cell = max(3, *(len(str(v)) for row in confusion for v in row))
    lines.append("confusion matrix (rows: true class, columns: predicted):")
    lines.append(" " * width + "".join(f" {j:>{cell}}" for j in range(len(names))))
    for i, row in enumerate(confusion):
        lines.append(f"{f'{i} {names[i]}':<{width}}" + "".join(f" {v:>{cell}}" for v in row))
    return "\n".join(lines)
