"""The benchmark workers: each starts with its environment set before TensorFlow or Keras reads it, pins its threads
when asked, and reports a failure as an error naming it; ResNet-20 ``fit`` times on every Keras backend.

Tiny models, one window each; no timing is asserted.
"""

import math
import os

import pytest

from benchmarks.workers import Worker, load

FIT = "benchmarks.training:keras_candidates"


def probe(candidates: dict) -> dict:
    """In a worker: what TensorFlow and Keras read, and how many cores each thread may run on."""
    import keras
    import tensorflow as tf  # noqa: F401  (so that keras_resnet.cpu asks TensorFlow itself)

    from keras_resnet import cpu

    threads = [len(os.sched_getaffinity(int(tid))) for tid in os.listdir("/proc/self/task")]
    return {"onednn": cpu.onednn_enabled(), "backend": keras.backend.backend(), "thread_cores": threads,
            "xla_flags": os.environ.get("XLA_FLAGS")}


def test_each_worker_reads_its_own_environment_and_pins_when_asked() -> None:
    off, on = Worker("off", {"TF_ENABLE_ONEDNN_OPTS": "0"}), Worker("on", {"TF_ENABLE_ONEDNN_OPTS": "1"}, pin=True)
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
    """XLA reads ``XLA_FLAGS`` at its first use, in the worker: a flag it does not know stops the worker."""
    worker = Worker("bad flag", {"XLA_FLAGS": "--xla_no_such_flag=true"})
    try:
        [candidate] = load([(worker, FIT, {"batch": 2, "tag": "x", "info": {}, "variants": (" + XLA",)})])
        with pytest.raises(RuntimeError, match="benchmark worker 'bad flag' (exited with status|failed)"):
            candidate.run(1)
    finally:
        worker.close()


@pytest.mark.parametrize(("backend", "variant"), [("jax", " + XLA"), ("torch", "")])
def test_fit_times_on_every_keras_backend(backend: str, variant: str) -> None:
    worker = Worker(backend, {"KERAS_BACKEND": backend})
    try:
        [candidate] = load([(worker, FIT, {"batch": 4, "tag": backend, "info": {"backend": backend},
                                           "variants": (variant,)})])
        assert candidate.info["backend"] == backend and candidate.info["xla"] == (backend == "jax")
        assert math.isfinite(candidate.run(1)) and worker.call(f"{__name__}:probe")["backend"] == backend
    finally:
        worker.close()
