"""The paper's central experiments on real data (He et al. 2016): degradation
of plain nets and its fix by residual learning (Fig. 6), shortcut options
(Table 3), depth up to 1000+ layers (Table 6, §4.2) and layer responses
(Fig. 7), in :mod:`keras_resnet.experiments.studies`. Run them with
``python -m keras_resnet.experiments.degradation --study=...``."""

from keras_resnet.experiments.runs import Net, Recipe, RunRecord, train
from keras_resnet.experiments.studies import Claim

__all__ = ["Claim", "Net", "Recipe", "RunRecord", "train"]
