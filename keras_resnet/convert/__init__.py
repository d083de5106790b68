"""Converting a torchvision or timm checkpoint to a Keras weights file:
:func:`convert` as the Python API, ``python -m keras_resnet.convert`` as the
command line.

Modules, one job each: :mod:`~keras_resnet.convert.conversion` (build the net,
load the checkpoint, write the file) and :mod:`~keras_resnet.convert.cli`
(the flags).
"""

from keras_resnet.convert.conversion import MODELS, OUTPUTS, convert

__all__ = ["MODELS", "OUTPUTS", "convert"]
