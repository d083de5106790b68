"""The family's table (the paper's Table 1: layers, parameters and MACs of every net): :func:`rows` and
:func:`render` as the Python API, ``python -m keras_resnet.table`` as the command line.

Modules, one job each: :mod:`~keras_resnet.table.counts` (the rows and their
rendering) and :mod:`~keras_resnet.table.cli` (the flags).
"""

from keras_resnet.table.counts import COLUMNS, FORMATS, render, rows

__all__ = ["COLUMNS", "FORMATS", "render", "rows"]
