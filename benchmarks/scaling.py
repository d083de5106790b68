"""Scale plan: 1 vs 2 data-parallel replicas of ResNet-20 ``fit`` on this CPU (a worker's ``call`` target).

Replicas are logical CPUs (``keras_resnet.distribute.split_cpu``, done by this section's worker before its first
op) under ``MirroredStrategy``, at the same global batch. They share the same cores, so this measures what
replication costs (splitting the batch, the all-reduce), not a speed-up.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from benchmarks import fit_candidates
from benchmarks.settings import Settings
from benchmarks.timing import Candidate, interleaved


def run(candidates: Mapping[str, Candidate], settings: Settings) -> dict[str, Any]:
    """The 1- and 2-replica rows and the second's speed over the first's."""
    batch, devices = settings.train_batch, [d.name for d in tf.config.list_logical_devices("CPU")]
    data = fit_candidates.batch_data(*fit_candidates.synthetic_batch(batch))
    replicas = [Candidate(f"{n} replica(s)", batch, info={"replicas": n, "per_replica_batch": batch // n},
                          window=fit_candidates.fit_window(fit_candidates.keras_model(
                              tf.distribute.MirroredStrategy(devices[:n])), data)) for n in (1, 2)]
    rows = list(interleaved(replicas, settings.windows, settings.window_seconds, settings.warmup,
                            functools.partial(print, flush=True)).values())
    return {"replicas": rows, "two_replica_speedup": round(rows[1]["median_items_per_s"]
                                                           / rows[0]["median_items_per_s"], 3)}
