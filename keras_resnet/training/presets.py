"""Named training recipes as data: each is the :class:`~keras_resnet.training.TrainConfig`
fields it sets; explicit settings override them (:func:`keras_resnet.training.recipe_config`).

* ``"paper"`` (the default): the field defaults, He et al. 2016's recipe for
  training from scratch (SGD with momentum, step decay, pad-crop-flip).
* ``"finetune"``: the ingredients MediaPipe Model Maker, Model Garden and
  timm fine-tune with: AdamW with decoupled weight decay (Loshchilov & Hutter
  2019), linear warm-up then cosine decay (Goyal et al. 2017; Loshchilov &
  Hutter 2017), label smoothing 0.1 (Szegedy et al. 2016), RandAugment with
  two operations (Cubuk et al. 2020), mixup (Zhang et al. 2018), random
  erasing (Zhong et al. 2020) and an exponential moving average of the
  weights. The EMA momentum is 0.95, about the last 20 steps, because a
  fine-tune on a few hundred photos is a few hundred steps long (Keras'
  default 0.99 would still weigh the starting weights). With
  ``init_weights``, it also trains the head, then the top three stages
  (:data:`TRANSFER`). Warm-up starts at 0 (``warmup_learning_rate``).
"""

from __future__ import annotations

RECIPES: dict[str, dict[str, object]] = {
    "paper": {},
    "finetune": {
        "optimizer": "adamw", "learning_rate": 1e-3, "weight_decay": 0.05, "label_smoothing": 0.1,
        "lr_schedule": "cosine", "warmup_epochs": 1.0, "warmup_learning_rate": 0.0,
        "rand_augment": 2, "mixup": 0.2, "random_erasing": 0.25, "ema": True, "ema_momentum": 0.95,
    },
}

#: What a recipe adds when the run starts from ``init_weights``: the head, then its fine-tuning phase.
TRANSFER: dict[str, dict[str, object]] = {
    "paper": {},
    "finetune": {"fine_tune_epochs": 10, "fine_tune_stages": 3},
}
