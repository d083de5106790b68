"""The CPU a process runs on, and whether TensorFlow uses its oneDNN kernels there.

TensorFlow (2.9 and later) turns oneDNN on by default only on x86 CPUs with
AVX-512 VNNI, AVX-512 BF16 or AMX; elsewhere (most AVX2 laptops and VMs) it
runs Eigen's kernels, which have no NCHW (``channels_first``) CPU convolution
and train ResNets about half as fast. ``TF_ENABLE_ONEDNN_OPTS`` overrides the
rule, and is read once, when TensorFlow is imported
(https://www.tensorflow.org/install/pip, "oneDNN"). Standard library only, so
command lines can choose before that import.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping, MutableMapping
from functools import cache
from typing import Any

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
#: The ISA features that decide TensorFlow's kernels and LiteRT's int8 speed, as /proc/cpuinfo spells them.
FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
#: Any of these makes TensorFlow turn oneDNN on by default (tensorflow/core/util/util.cc, IsMklEnabled).
ONEDNN_DEFAULT_FEATURES = ("avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
_TRUE = ("1", "true")
_FALSE = ("0", "false")


@cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if not key.strip() and fields:  # the first processor's block ended
                    break
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    model = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields:  # the generation, where the model name is only a brand ("AMD EPYC")
        model += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    return model, frozenset(fields.get("flags", "").split())


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), e.g. ``"AMD EPYC 9B45"``."""
    return _cpuinfo()[0]


def features() -> dict[str, bool]:
    """Which of :data:`FEATURES` the CPU has."""
    flags = _cpuinfo()[1]
    return {name: name in flags for name in FEATURES}


def onednn_by_default() -> bool:
    """Whether TensorFlow turns oneDNN on here when ``TF_ENABLE_ONEDNN_OPTS`` is unset."""
    flags = _cpuinfo()[1]
    return platform.machine() in ("x86_64", "AMD64") and any(f in flags for f in ONEDNN_DEFAULT_FEATURES)


def bf16_native() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16 or AMX-BF16); elsewhere oneDNN emulates it."""
    flags = _cpuinfo()[1]
    return "avx512_bf16" in flags or "amx_bf16" in flags


def onednn_rule(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a TensorFlow imported with ``environ`` runs oneDNN's kernels: the variable, else the CPU."""
    value = environ.get(ONEDNN_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return onednn_by_default()


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow runs (or, imported now, would run) oneDNN's kernels.

    Once TensorFlow is imported it is asked; before, :func:`onednn_rule` answers as TensorFlow will.
    """
    if "tensorflow" in sys.modules:
        try:
            from tensorflow.python.util import _pywrap_util_port

            return bool(_pywrap_util_port.IsMklEnabled())
        except ImportError:  # a TensorFlow without the probe: its rule
            pass
    return onednn_rule()


def prefer_onednn(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set ``TF_ENABLE_ONEDNN_OPTS=1`` unless the user set it or TensorFlow is already imported.

    For the project's command lines only, called before TensorFlow is imported: on CPUs where
    TensorFlow leaves oneDNN off, oneDNN trains and infers faster (BENCHMARKS.md) and has the
    ``channels_first`` kernels. A library sets no process-wide variable. Returns whether it set it.
    """
    if ONEDNN_ENV in environ or "tensorflow" in sys.modules:
        return False
    environ[ONEDNN_ENV] = "1"
    return True


def describe() -> dict[str, Any]:
    """What a run or a benchmark records about the machine: CPU model, ISA features, oneDNN's state."""
    return {"cpu": cpu_model(), "features": features(), "onednn": onednn_enabled(),
            "onednn_by_default": onednn_by_default(), ONEDNN_ENV: os.environ.get(ONEDNN_ENV)}


def summary() -> str:
    """One line: ``CPU <model>; avx2 fma; TensorFlow oneDNN on (TF_ENABLE_ONEDNN_OPTS=1)``."""
    info = describe()
    have = " ".join(name for name, present in info["features"].items() if present) or "none of " + " ".join(FEATURES)
    setting = info[ONEDNN_ENV]
    why = f"{ONEDNN_ENV}={setting}" if setting is not None else "this CPU's default"
    return f"CPU {info['cpu']}; features: {have}; TensorFlow oneDNN {'on' if info['onednn'] else 'off'} ({why})"


def channels_first_unsupported() -> bool:
    """Whether TensorFlow's CPU kernels here lack NCHW convolutions and pooling (oneDNN off, no GPU)."""
    if onednn_enabled():
        return False
    import tensorflow as tf

    return not tf.config.list_logical_devices("GPU")


#: What :func:`keras_resnet.training.fit` tells a user whose TensorFlow runs without oneDNN.
ONEDNN_HINT = (
    "note: TensorFlow runs its Eigen kernels on this CPU ({cpu}); with TF_ENABLE_ONEDNN_OPTS=1 set before "
    "TensorFlow is imported it trains on oneDNN's, faster on such CPUs (BENCHMARKS.md); the command lines set it."
)
#: What the training command line says when asked for bf16 on a CPU without it (BENCHMARKS.md has the ratio).
BF16_NOTE = (
    "note: --mixed_precision mixed_bfloat16 trains slower than float32 on this CPU ({cpu}), which has no "
    "AVX512_BF16 or AMX-BF16: its bfloat16 is emulated."
)
CHANNELS_FIRST_ERROR = (
    "channels_first needs TensorFlow's oneDNN CPU kernels, which are off on this CPU ({cpu}, no AVX-512 "
    "VNNI/BF16): set TF_ENABLE_ONEDNN_OPTS=1 before importing TensorFlow, or use channels_last."
)


def check_channels_first(data_format: str) -> None:
    """Refuse, in one line, a ``channels_first`` net that TensorFlow's CPU kernels here cannot run."""
    if data_format != "channels_first":
        return
    import keras

    if keras.backend.backend() == "tensorflow" and channels_first_unsupported():
        raise ValueError(CHANNELS_FIRST_ERROR.format(cpu=cpu_model()))


if __name__ == "__main__":  # `python -m keras_resnet.cpu`: what CI logs first
    try:
        import tensorflow  # noqa: F401 - so that TensorFlow itself reports its oneDNN state
    except ImportError:  # without TensorFlow, its rule for this CPU and environment
        pass
    print(summary())
