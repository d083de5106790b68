"""The benchmark workers: each starts with its environment set before TensorFlow or Keras reads it, pins its threads
when asked, passes keyword arguments to the functions it calls, reports a failure as an error naming it, and reports
its CPU seconds.

Tiny models, one window each; no timing is asserted.
"""

import math
import os
import time

import pytest

from benchmarks.settings import PIN
from benchmarks.workers import Worker, load

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

FIT = "benchmarks.candidates:training_candidates"


def probe() -> dict:
    """In a worker: what TensorFlow and Keras read, and how many cores each thread may run on."""
    import keras
    import tensorflow as tf  # noqa: F401  (so that keras_resnet.cpu asks TensorFlow itself)

    from keras_resnet import cpu

    threads = [len(os.sched_getaffinity(int(tid))) for tid in os.listdir("/proc/self/task")]
    return {"onednn": cpu.onednn_enabled(), "backend": keras.backend.backend(), "thread_cores": threads,
            "xla_flags": os.environ.get("XLA_FLAGS")}


def echo(**kwargs: object) -> dict:
    return kwargs


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_each_worker_reads_its_own_environment_and_pins_when_asked() -> None:
    off, on = Worker("off", {"TF_ENABLE_ONEDNN_OPTS": "0"}), Worker("on", {"TF_ENABLE_ONEDNN_OPTS": "1", PIN: "1"})
    try:
        [candidate] = load([(on, FIT, {"batch": 2, "tag": "on", "info": {}})])
        assert candidate.name == "keras_resnet fit, on" and math.isfinite(candidate.run(1))
        seen_off, seen_on = off.call(f"{__name__}:probe"), on.call(f"{__name__}:probe")
        assert (seen_off["onednn"], seen_on["onednn"]) == (False, True)
        assert seen_on["backend"] == "tensorflow" and set(seen_on["thread_cores"]) == {1}
        assert set(seen_off["thread_cores"]) == {len(os.sched_getaffinity(0))}
    finally:
        off.close()
        on.close()


def test_a_failing_worker_is_an_error_naming_it() -> None:
    worker = Worker("broken", {})
    try:
        with pytest.raises(RuntimeError, match="(?s)worker 'broken' failed:.*No module named 'benchmarks.nope'"):
            worker.call("benchmarks.nope:run", steps=1)
        assert worker.call(f"{__name__}:echo", steps=2, name="x") == {"steps": 2, "name": "x"}  # and it serves on
        worker.call(f"{__name__}:burn", seconds=1.0)
        assert worker.call("benchmarks.workers:drop") >= 0.9  # its CPU seconds, for the idle check
    finally:
        worker.close()
