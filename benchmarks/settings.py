"""How long and how big each benchmark runs: the full settings, and tiny ones for smoke tests."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Settings:
    """Sizes and repetitions of one benchmark run.

    Attributes:
        windows: Timed windows per candidate (the median is reported).
        window_seconds: Target length of one window.
        warmup: Untimed steps before sizing the windows (compilation happens here).
        train_batch: Training batch size (CIFAR ResNet-20, 32x32).
        user_path_batches: Batch sizes at which ``keras_resnet.training.fit`` (the CLI's path) is timed.
        inference_size: ResNet-50 input side.
        inference_batches: Batch sizes timed for ResNet-50 inference.
        litert_models: Models exported to LiteRT (``"resnet20"``, ``"resnet50"``).
        litert_size: ResNet-50 input side for LiteRT.
        litert_window_seconds: Target length of one LiteRT latency window (many files are timed).
        calibration_images: Representative images for the int8 export.
        torch_compile: Include ``torch.compile`` candidates (slow to compile).
        xla: Include the XLA (``jit_compile=True``) candidates (slow to compile).
        pipeline_jpegs: JPEG files written for the ImageNet-style input-pipeline measurement.
        gemm_size: Side of the float32 matrix product that measures the practical FLOP/s ceiling.
        profile_steps: Training steps traced per framework by the profile section.
        onednn_steps: Training steps whose oneDNN primitives are logged per framework (at least 2).
        side_by_side: Run the per-framework child processes (the oneDNN logs) at the same time, and the LiteRT,
            scaling and profile sections in a process beside the others, sharing the cores: only where their
            times do not matter (smoke tests).
    """

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
    pipeline_jpegs: int = 256
    gemm_size: int = 2048
    profile_steps: int = 5
    onednn_steps: int = 5
    xla: bool = True
    side_by_side: bool = False


FULL = Settings()

#: Everything runs, on tiny sizes: checks the plumbing and the outputs, not the speed.
TINY = Settings(windows=2, window_seconds=0.05, warmup=1, train_batch=8, user_path_batches=(),
                inference_size=32, inference_batches=(2,),
                litert_models=("resnet20",), litert_size=32, litert_window_seconds=0.05,
                calibration_images=2, torch_compile=False,
                pipeline_jpegs=24, gemm_size=256, profile_steps=1, onednn_steps=2, xla=False,
                side_by_side=True)
