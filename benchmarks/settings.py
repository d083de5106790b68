"""What a benchmark run times and for how long: the full settings, tiny ones for smoke tests, and the names of the
inference variants (built by :mod:`benchmarks.inference`, chosen by :mod:`benchmarks.cli`)."""

from __future__ import annotations

import dataclasses

FOLDED, APPLICATIONS = "keras_resnet folded BN", "keras.applications"
INFERENCE_VARIANTS = (FOLDED, f"{FOLDED} + XLA", f"{FOLDED}, channels_first", f"{FOLDED}, frozen graph",
                      f"{FOLDED}, frozen graph, grappler NHWC_TO_NCHW", APPLICATIONS, f"{APPLICATIONS} + XLA")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Sizes and repetitions of one run: ``windows`` timed windows per candidate of about ``window_seconds``
    after ``warmup`` untimed steps (compilation happens there); ResNet-20 training at ``train_batch`` and the
    command line's path at ``user_path_batches``; ResNet-50 inference at ``inference_size`` and
    ``inference_batches``; LiteRT files of ``litert_models`` (ResNet-50 at ``litert_size``, ``calibration_images``
    for int8); ``torch_compile``, ``xla`` (slow to compile), ``process_wide`` (a worker per setting) and the other
    Keras ``backends`` as candidates; ``pipeline_jpegs`` files for the JPEG pipeline, a ``gemm_size``-cubed matrix
    product as the FLOP/s ceiling, ``trace_steps`` profiled and logged steps, the GPU's ``gpu_batch``, and the
    ``inference_variants`` of TensorFlow with oneDNN on (the tiny run leaves out ``channels_first``, whose oneDNN
    inference is slow on AVX2 CPUs, and XLA)."""

    windows: int = 5
    window_seconds: float = 2.0
    warmup: int = 2
    train_batch: int = 128
    user_path_batches: tuple[int, ...] = (128, 64)
    inference_size: int = 224
    inference_batches: tuple[int, ...] = (1, 32)
    litert_models: tuple[str, ...] = ("resnet20", "resnet50")
    litert_size: int = 224
    litert_window_seconds: float = 1.0
    calibration_images: int = 16
    torch_compile: bool = True
    xla: bool = True
    process_wide: bool = True
    backends: tuple[str, ...] = ("jax", "torch")
    pipeline_jpegs: int = 256
    gemm_size: int = 2048
    trace_steps: int = 5
    gpu_batch: int = 256  # NVIDIA's
    inference_variants: tuple[str, ...] = INFERENCE_VARIANTS  # with oneDNN on


FULL = Settings()
#: Tiny sizes, without the slow-to-compile and the worker-per-setting candidates: the plumbing, not the speed.
TINY = Settings(windows=2, window_seconds=0.05, warmup=1, train_batch=8, user_path_batches=(), inference_size=32,
                inference_batches=(1,), litert_models=("resnet20",), litert_size=32, litert_window_seconds=0.05,
                calibration_images=2, torch_compile=False, xla=False, process_wide=False, backends=(),
                pipeline_jpegs=24, gemm_size=256, trace_steps=2, gpu_batch=8,
                inference_variants=tuple(v for v in INFERENCE_VARIANTS if not v.endswith(("XLA", "channels_first"))))
