"""``tf.distribute`` strategies by name, and who is the chief worker.

``default`` (no distribution), ``one_device`` (first GPU, else the CPU),
``mirrored`` (all local GPUs, else all logical CPUs: see :func:`split_cpu`),
``multi_worker`` (``MultiWorkerMirroredStrategy`` from the ``TF_CONFIG``
environment variable) and ``tpu`` (``TPUStrategy`` through a cluster
resolver; not testable on a CPU machine). The paper trained on 8 GPUs with a
global mini-batch of 256 (§3.4) and 2 GPUs with 128 on CIFAR (§4.2): batch
sizes here are global and split evenly across replicas.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


def split_cpu(num_devices: int) -> None:
    """Expose the physical CPU as ``num_devices`` logical CPUs (``/cpu:0`` ...).

    Must run before TensorFlow initializes its devices (before the first op).
    Lets ``mirrored`` run several replicas on one CPU, e.g. to test
    data-parallel code without GPUs.
    """
    if not isinstance(num_devices, int) or num_devices < 1:
        raise ValueError(f"`logical_cpus` must be a positive integer; received logical_cpus={num_devices!r}")
    import tensorflow as tf  # here, not at import: STRATEGIES is read by command lines before TensorFlow loads

    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if len(current or [None]) == num_devices:  # unconfigured: one logical CPU
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    except RuntimeError as err:
        raise RuntimeError(
            f"Cannot split the CPU into {num_devices} logical devices: TensorFlow is already initialized. "
            "Call split_cpu (--logical_cpus) before any TensorFlow op, e.g. at program start."
        ) from err


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(
            "--strategy=multi_worker needs the TF_CONFIG environment variable, e.g. "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
        )
    try:
        config = json.loads(raw)
    except ValueError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON ({err}): {raw!r}") from err
    config = config if isinstance(config, dict) else {}
    task = config.get("task")
    if not isinstance(config.get("cluster"), dict) or not isinstance(task, dict) or "type" not in task:
        raise ValueError(f"TF_CONFIG needs a 'cluster' dict and a 'task' with 'type' and 'index': {raw!r}")


def create_strategy(name: str = "default", tpu: str = "") -> tf.distribute.Strategy:
    """Build the strategy ``name`` (one of :data:`STRATEGIES`).

    Args:
        name: Strategy name.
        tpu: TPU name or ``grpc://`` address for ``tpu`` (``""``: the local
            TPU VM or the one named by the environment).

    ``multi_worker`` and ``tpu`` must be created at program start, before
    other TensorFlow work.
    """
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {STRATEGIES}; received strategy={name!r}")
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name in ("one_device", "mirrored"):
        devices = [d.name for d in tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")]
        if name == "one_device":
            return tf.distribute.OneDeviceStrategy(devices[0])
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        _check_tf_config()
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """True for a ``MultiWorkerMirroredStrategy`` spanning more than one worker."""
    import tensorflow as tf

    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode())


def non_chief_name(strategy: tf.distribute.Strategy) -> str | None:
    """``None`` on the chief (task ``chief`` or, without one, ``worker`` 0, and
    every single-worker strategy); else the task's name, e.g. ``"worker1"``."""
    if not is_multi_worker(strategy):
        return None
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, int(resolver.task_id)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    if task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0):
        return None
    return f"{task_type}{task_id}"
