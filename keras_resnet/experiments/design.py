"""What the runs of a study share and what tells them apart.

Every run of a study shares one recipe, a :class:`~keras_resnet.training.TrainConfig`
template (:data:`RECIPE` by default), and differs only in the net
(:class:`Net`) and the seed, as in the paper's comparisons (§4.1, §4.2: "the
same" hyper-parameters for plain and residual nets). Light to import: the
command line builds a recipe before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses

from keras_resnet.specs import resolve_spec
from keras_resnet.training.config import TrainConfig

#: The studies' default recipe: width x0.5, the first 5,000 training images, test error on the first 2,000,
#: 4 epochs at batch 128, 40 warm-up steps at lr 0.01 (§4.2's warm-up, there for ResNet-110, here for every
#: net), then lr 0.1 constant. Its ``model``, ``plain``, ``shortcut``, ``seed`` and ``model_dir`` are set per run.
RECIPE = TrainConfig(train_examples=5000, eval_examples=2000, epochs=4, global_batch_size=128, learning_rate=0.1,
                     lr_schedule="constant", warmup_steps=40, width_multiplier=0.5)


def train_config(recipe: TrainConfig, net: Net, seed: int, model_dir: str) -> TrainConfig:
    """The :class:`~keras_resnet.training.TrainConfig` of ``net`` trained with ``recipe`` and ``seed``."""
    config = dataclasses.replace(recipe, model=net.model, plain=net.plain, shortcut=net.shortcut, seed=seed,
                                 model_dir=model_dir)
    # The input size explicit, as fit records it in config.json (compared when a finished run is reused).
    return dataclasses.replace(config, image_size=config.input_size)


@dataclasses.dataclass(frozen=True)
class Net:
    """A network of a study: a :func:`keras_resnet.get_model` name, plain or
    residual (§4.1), with a shortcut option (§3.3; ``None``: the family default)."""

    model: str
    plain: bool = False
    shortcut: str | None = None

    @property
    def depth(self) -> int:
        """Weighted layers on the main path (``resnet56``: 56)."""
        return resolve_spec(self.model).depth

    @property
    def label(self) -> str:
        """Paper-style name: ``plain-56``, ``ResNet-56``, ``ResNet-20 (B)``, ``preact-ResNet-1001``."""
        name = f"plain-{self.depth}" if self.plain else f"ResNet-{self.depth}"
        if self.model.startswith("preact_"):
            name = f"preact-{name}"
        return f"{name} ({self.shortcut})" if self.shortcut else name

    @property
    def slug(self) -> str:
        """File-system name, e.g. ``plain_resnet56_A``."""
        return "_".join(filter(None, ("plain" if self.plain else "", self.model, self.shortcut)))


