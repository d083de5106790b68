"""Evaluating a saved model: :func:`evaluate` as the Python API,
``python -m keras_resnet.evaluate`` as the command line.

Modules, one job each: :mod:`~keras_resnet.evaluate.evaluation` (predictions,
metrics, the confusion matrix's PNG, the printed report) and
:mod:`~keras_resnet.evaluate.cli` (the flags).
"""

from keras_resnet.evaluate.evaluation import EPSILON, evaluate, metrics, predict, report, save_confusion_png

__all__ = ["EPSILON", "evaluate", "metrics", "predict", "report", "save_confusion_png"]
