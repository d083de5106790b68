"""What a benchmark run times, in which worker, and for how long: the full settings and the tiny ones of the smoke
test."""

from __future__ import annotations

import dataclasses

from keras_resnet.cpu import ONEDNN_ENV

FOLDED, APPLICATIONS = "keras_resnet folded BN", "keras.applications"
INFERENCE_VARIANTS = (FOLDED, f"{FOLDED} + XLA", f"{FOLDED}, channels_first", f"{FOLDED}, frozen graph",
                      APPLICATIONS, f"{APPLICATIONS} + XLA")
TRAINING_VARIANTS = ("", ", channels_first", ", steps_per_execution 8", ", mixed_bfloat16", " + XLA")
#: keras_resnet's variants with oneDNN off (on: the settings' ``training_variants`` and ``inference_variants``).
OFF_VARIANTS = {"training": ("", ", mixed_bfloat16"), "inference": (FOLDED, APPLICATIONS)}
LITERT_THREADS, WITHOUT_XNNPACK = (1, 2), ("fp32", "int8")  # LiteRT files also timed without XNNPACK, at 1 thread
ON = {ONEDNN_ENV: "1"}
#: Read by a worker itself (:mod:`benchmarks.workers`): pin its threads to a core each; split the CPU in logical CPUs.
PIN, LOGICAL_CPUS = "BENCHMARKS_PIN_THREADS", "BENCHMARKS_LOGICAL_CPUS"
#: Workers by role: label, environment (PyTorch and onnxruntime are the peers; the scaling needs 2 CPUs).
ROLES = {"off": ("oneDNN off", {ONEDNN_ENV: "0"}), "on": ("oneDNN on", ON), "peers": ("peers", {}),
         "replicas": ("oneDNN on, 2 CPUs", {**ON, LOGICAL_CPUS: "2"})}
FROZEN = {"TF_ONEDNN_ASSUME_FROZEN_WEIGHTS": "1"}  # oneDNN keeps reordered weights across calls
INTER_OP = {"TF_NUM_INTEROP_THREADS": "1"}  # TensorFlow sizes its thread pools from these when not told otherwise
BOTH = {"training": "", "inference": FOLDED}
#: Process-wide settings, a worker each (oneDNN on): label -> (environment, section -> keras_resnet's variant there).
PROCESS_WIDE: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "1 inter-op thread": (INTER_OP, BOTH),
    "1 intra-op thread": ({"TF_NUM_INTRAOP_THREADS": "1"}, BOTH),
    "threads pinned to cores": ({PIN: "1"}, BOTH),
    "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1": (FROZEN, {"inference": FOLDED}),
    "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1, 1 inter-op thread": ({**FROZEN, **INTER_OP}, {"inference": FOLDED}),
    "ONEDNN_PRIMITIVE_CACHE_CAPACITY=4096": ({"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "4096"}, {"inference": FOLDED}),
    "XLA_FLAGS=--xla_cpu_use_onednn=true": ({"XLA_FLAGS": "--xla_cpu_use_onednn=true"}, {"training": " + XLA"}),
    "XLA_FLAGS=--xla_cpu_use_xnnpack=true": ({"XLA_FLAGS": "--xla_cpu_use_xnnpack=true"}, {"training": " + XLA"}),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """One run: ``windows`` timed windows per candidate of about ``window_seconds`` after ``warmup`` untimed steps
    (and the one its worker runs as it builds it: compilation happens there); ``*_variants`` are keras_resnet's with
    oneDNN on; ``user_path_batches``: the command line's path; ``shared_workers``: one worker per oneDNN state and no
    other (each imports TensorFlow: seconds)."""

    windows: int = 5
    window_seconds: float = 2.0
    warmup: int = 2
    train_batch: int = 128
    training_variants: tuple[str, ...] = TRAINING_VARIANTS
    user_path_batches: tuple[int, ...] = (128, 64)
    inference_size: int = 224
    inference_batches: tuple[int, ...] = (1, 32)
    inference_variants: tuple[str, ...] = INFERENCE_VARIANTS
    litert_models: tuple[str, ...] = ("resnet20", "resnet50")
    litert_variants: tuple[str, ...] = ("fp32", "dynamic", "fp16", "int8")
    litert_size: int = 224
    litert_window_seconds: float = 1.0
    calibration_images: int = 16
    torch_compile: bool = True
    process_wide: bool = True
    gemm_size: int = 2048
    trace_steps: int = 5
    shared_workers: bool = False


FULL = Settings()
#: The smoke test: every section and every ratio once, at the smallest sizes and with the fewest processes.
TINY = Settings(windows=1, window_seconds=0.01, warmup=0, train_batch=4, training_variants=("", ", mixed_bfloat16"),
                user_path_batches=(), inference_size=32, inference_batches=(1,),
                inference_variants=(FOLDED, APPLICATIONS), litert_models=("resnet20",),
                litert_variants=("fp32", "int8"), litert_size=32, litert_window_seconds=0.01, calibration_images=2,
                torch_compile=False, process_wide=False, gemm_size=128, trace_steps=1, shared_workers=True)
