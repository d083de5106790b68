"""A torchvision or timm checkpoint to a Keras weights file (:func:`convert`).

The checkpoint's layout is checked tensor by tensor against the requested net
(:mod:`keras_resnet.checkpoints`); Keras is imported only when the net is
built. The output is written to a temporary file renamed into place, so a
failed conversion leaves nothing behind.
"""

from __future__ import annotations

from keras_resnet import checkpoints
from keras_resnet.specs import IMAGENET_DEPTHS, SPECS, variant_name

MODELS = tuple(f"resnet{depth}" for depth in IMAGENET_DEPTHS)
OUTPUTS = (".weights.h5", ".keras")


def convert(checkpoint: str, model: str, variant: str, output: str, include_top: bool = True) -> None:
    """Build ``model`` in ``variant``, load ``checkpoint`` into it and write ``output`` atomically
    (a ``.weights.h5`` file, or a whole ``.keras`` model).

    Raises:
        ValueError: The checkpoint is unreadable or does not fit the net.
    """
    from keras_resnet.io import atomic_path
    from keras_resnet.models import get_model

    state = checkpoints.read(checkpoint)
    net = get_model(model, variant=variant, include_top=include_top, classes=checkpoints.classes(state) or 1000)
    avg_down = SPECS[variant_name(model, variant)].avg_down
    checkpoints.assign(net, state, include_top=include_top, avg_down=avg_down, source=repr(checkpoint))
    with atomic_path(output) as tmp:
        if output.endswith(".keras"):
            net.save(tmp)
        else:
            net.save_weights(tmp)
