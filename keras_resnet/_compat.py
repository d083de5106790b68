"""Workaround: Keras 3 ``model.fit`` under ``MultiWorkerMirroredStrategy``.

Upstream bug: https://github.com/keras-team/keras/issues/20585. With more than
one worker, ``fit``/``evaluate`` fail in two places of
``keras/src/backend/tensorflow/trainer.py`` (checked on Keras 3.15.1):

1. ``TensorFlowTrainer._maybe_symbolic_build`` averages a whole ``PerReplica``
   input batch with an eager ``strategy.reduce`` ("Attempt to convert a value
   (PerReplica ...)"). Building only needs shapes, so one local replica's
   batch does.
2. ``reduce_per_replica`` reduces the scalar logs of each step with
   ``strategy.reduce("MEAN", v, axis=0)`` ("Invalid reduction dimension 0 for
   input with 0 dimensions"); averaging across replicas is ``axis=None``.

:func:`multi_worker_fit_fix` mends both for the duration of a ``with`` block,
only for a multi-worker strategy and only on the Keras versions checked
(:data:`AFFECTED`); elsewhere it does nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tf_trainer

from keras_resnet.distribute import is_multi_worker

#: Keras versions (inclusive lower, exclusive upper) known to have the bug.
AFFECTED = ((3, 7), (3, 16))


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def affected(keras_version: str = keras.__version__) -> bool:
    """Whether this Keras version is one known to have the bug."""
    return AFFECTED[0] <= _version(keras_version) < AFFECTED[1]


def needed(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``fit`` under ``strategy`` needs the fix with the installed Keras."""
    return is_multi_worker(strategy) and affected()


def _local_replica(strategy: tf.distribute.Strategy, value: Any) -> Any:
    if isinstance(value, tf.distribute.DistributedValues):
        return strategy.experimental_local_results(value)[0]
    return value


def _build_from_local_replica(original: Any) -> Any:
    def _maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> Any:
        if iterator is not None and self._distribute_strategy is not None:
            strategy = self.distribute_strategy
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(lambda v: _local_replica(strategy, v), next(batches))
                break
            iterator = None
        return original(self, iterator=iterator, data_batch=data_batch)

    return _maybe_symbolic_build


def _reduce_scalars_across_replicas(original: Any) -> Any:
    def reduce_per_replica(values: Any, strategy: tf.distribute.Strategy, reduction: str) -> Any:
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    return reduce_per_replica


@contextlib.contextmanager
def multi_worker_fit_fix(strategy: tf.distribute.Strategy) -> Iterator[bool]:
    """Patch Keras' TF trainer while the block runs, if :func:`needed`.

    Yields whether the patch is active. Trace ``fit``/``evaluate`` inside the
    block (their step functions bind the patched reduction when traced).
    """
    if not needed(strategy):
        yield False
        return
    trainer_cls = tf_trainer.TensorFlowTrainer
    saved = (trainer_cls._maybe_symbolic_build, tf_trainer.reduce_per_replica)
    trainer_cls._maybe_symbolic_build = _build_from_local_replica(saved[0])
    tf_trainer.reduce_per_replica = _reduce_scalars_across_replicas(saved[1])
    try:
        yield True
    finally:
        trainer_cls._maybe_symbolic_build, tf_trainer.reduce_per_replica = saved
