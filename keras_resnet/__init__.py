"""keras_resnet: the ResNet family of He et al. (CVPR 2016, ECCV 2016) for Keras 3.

The builders and tools are imported on first use (PEP 562), so that the
command lines check their flags before Keras (and TensorFlow) is imported.
"""

import sys

from keras_resnet._lazy import exports
from keras_resnet.specs import SPECS, ResNetSpec, cifar_spec

__version__ = "0.1.0"

#: Submodule -> the public names it defines, imported on first use (also read by keras_resnet.stubs).
_EXPORTS = {
    "analysis": ("count_macs", "count_trainable_params", "count_weighted_layers"),
    "builder": ("build_resnet",),
    "features": ("backbone",),
    "formats": ("image_data_format",),
    "layers": ("ZeroPadShortcut",),
    "models": ("BUILDERS", "CifarResNet", "PreActResNet110", "PreActResNet164", "PreActResNet1001", "ResNet18",
               "ResNet18V2", "ResNet20", "ResNet32", "ResNet34", "ResNet34V2", "ResNet44", "ResNet50", "ResNet50V2",
               "ResNet56", "ResNet101", "ResNet101V2", "ResNet110", "ResNet152", "ResNet152V2", "ResNet1202",
               "get_model"),
}
__getattr__, __dir__, _LAZY_NAMES = exports(__name__, _EXPORTS, globals())

if "keras" in sys.modules:
    # Keras is loaded already: register the option-A layer now, so that `import keras_resnet` is all that
    # keras.models.load_model needs for files with option-A shortcuts.
    from keras_resnet import layers as _layers  # noqa: F401

__all__ = ["SPECS", "ResNetSpec", "cifar_spec", *_LAZY_NAMES]
