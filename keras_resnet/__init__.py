"""keras_resnet: the ResNet family of He et al. (CVPR 2016, ECCV 2016) for Keras 3."""

from keras_resnet.analysis import count_macs, count_trainable_params, count_weighted_layers
from keras_resnet.builder import build_resnet
from keras_resnet.features import backbone
from keras_resnet.layers import ZeroPadShortcut
from keras_resnet.models import (
    BUILDERS,
    CifarResNet,
    PreActResNet110,
    PreActResNet164,
    PreActResNet1001,
    ResNet18,
    ResNet18V2,
    ResNet20,
    ResNet32,
    ResNet34,
    ResNet34V2,
    ResNet44,
    ResNet50,
    ResNet50V2,
    ResNet56,
    ResNet101,
    ResNet101V2,
    ResNet110,
    ResNet152,
    ResNet152V2,
    ResNet1202,
    get_model,
)
from keras_resnet.specs import SPECS, ResNetSpec, cifar_spec

__version__ = "0.1.0"

__all__ = [
    "BUILDERS",
    "SPECS",
    "CifarResNet",
    "PreActResNet110",
    "PreActResNet164",
    "PreActResNet1001",
    "ResNet18",
    "ResNet18V2",
    "ResNet20",
    "ResNet32",
    "ResNet34",
    "ResNet34V2",
    "ResNet44",
    "ResNet50",
    "ResNet50V2",
    "ResNet56",
    "ResNet101",
    "ResNet101V2",
    "ResNet110",
    "ResNet152",
    "ResNet152V2",
    "ResNet1202",
    "ResNetSpec",
    "ZeroPadShortcut",
    "backbone",
    "build_resnet",
    "cifar_spec",
    "count_macs",
    "count_trainable_params",
    "count_weighted_layers",
    "get_model",
]
