"""The paper's central experiments on real data (He et al. 2016): degradation
of plain nets and its fix by residual learning (Fig. 6), shortcut options
(Table 3), depth up to 1000+ layers (Table 6, §4.2) and layer responses
(Fig. 7), in :mod:`keras_resnet.experiments.studies`. Run them with
``python -m keras_resnet.experiments --study=...``."""

from keras_resnet._lazy import exports
from keras_resnet.experiments.design import RECIPE, Net, train_config

__getattr__, __dir__, _LAZY_NAMES = exports(__name__, {"runs": ("RunRecord", "train"), "studies": ("Claim",)},
                                            globals())

__all__ = ["RECIPE", "Net", "train_config", *_LAZY_NAMES]
