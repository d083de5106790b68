"""``python -m keras_resnet.training``: see :mod:`keras_resnet.training.cli`."""

from keras_resnet.training.cli import run

if __name__ == "__main__":
    run()
