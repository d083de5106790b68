"""``python -m keras_resnet.experiments``: see :mod:`keras_resnet.experiments.cli`."""

from keras_resnet.experiments.cli import run

if __name__ == "__main__":
    run()
