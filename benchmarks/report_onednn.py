"""The oneDNN primitives subsection of BENCHMARKS.md and the training miss it explains (from
:mod:`benchmarks.onednn`'s results)."""

from __future__ import annotations

from typing import Any

from benchmarks.markdown import table

TOP_PRIMITIVES = 8

ONEDNN_ROWS = {
    "conv_forward": "convolution forward", "conv_backward_data": "convolution backward data",
    "conv_backward_weights": "convolution backward weights", "reorder": "reorders", "batch_norm": "batch norm",
    "other": "other oneDNN primitives", "overlap": "less: primitives running at the same time",
    "outside_onednn": "outside oneDNN (no primitive running)", "step": "**step** (wall time, verbose on)",
}
FRAMEWORK_NAMES = {"tensorflow": "TensorFlow", "torch": "PyTorch"}


def _ms_calls(ms: float, calls: float | None) -> str:
    return f"{ms:.1f}" + (f" ({calls:g})" if calls is not None else "")


def _formats(side: dict[str, Any]) -> str:
    tags = ", ".join(f"`{tag}`" for tag in side["conv_source_formats"]) or "none"
    return f"{tags} ({side['conv_source_layout']})"


def _reorder_pairs(side: dict[str, Any], top: int = 3) -> str:
    return ", ".join(f"`{r['src']}`→`{r['dst']}` {r['calls']:g} × {r['ms']:.1f} ms"
                     for r in side["reorders"]["by_formats"][:top])


def render_onednn(results: dict[str, Any], peak: float, gemm: float) -> str:
    """The "### oneDNN primitives" subsection."""
    o = results["onednn"]
    sides = {name: o[name] for name in FRAMEWORK_NAMES}
    runtimes = "; ".join(f"{FRAMEWORK_NAMES[n]} oneDNN {s.get('version', '?')} ({s.get('runtime', '?')} runtime, "
                         f"{s.get('nthr', '?')} threads)" for n, s in sides.items())
    comparison = [[ONEDNN_ROWS[r["row"]], _ms_calls(r["tensorflow_ms"], r["tensorflow_calls"]),
                   _ms_calls(r["torch_ms"], r["torch_calls"]), f"{r['gap_ms']:+.1f}"] for r in o["comparison"]]
    notes = [f"Convolution sources: TensorFlow {_formats(sides['tensorflow'])}, PyTorch {_formats(sides['torch'])}. "
             "Reorders, largest first: " + "; ".join(f"{FRAMEWORK_NAMES[n]} {_reorder_pairs(s)}"
                                                      for n, s in sides.items()) + "."]
    notes += [f"{FRAMEWORK_NAMES[n]} runs no batch-norm primitive in oneDNN here: its batch norm is in the "
              "\"outside oneDNN\" row." for n, s in sides.items() if not s["groups"]["batch_norm"]["calls"]]
    parts = [
        "### oneDNN primitives",
        f"oneDNN's own log of {o['steps']} training steps per framework (ResNet-20, batch {o['batch']}, after "
        "warm-up, each framework in a fresh process; `benchmarks/onednn.py`: `ONEDNN_VERBOSE=1` for TensorFlow, "
        "`torch.backends.mkldnn.verbose` for PyTorch channels_last). Figures are ms per step: oneDNN's own "
        "execution time of each primitive, summed; calls per step in brackets. Primitives that ran at the same "
        "time (from their logged start times) are subtracted once, and the step's wall time when no primitive ran "
        f"is added, so each column adds up to the step. {runtimes}.",
        table(["per step", "TensorFlow ms (calls)", "PyTorch ms (calls)", "TensorFlow − PyTorch ms"], comparison),
        " ".join(notes),
    ]
    for name, side in sides.items():
        total = side["onednn_ms"] or 1.0
        rows = [[f"`{r['primitive']}`", f"`{r['implementation']}`" if r["implementation"] else "—",
                 r["propagation"], f"{r['calls']:g}", f"{r['ms']:.1f}", f"{100 * r['ms'] / total:.0f} %"]
                for r in side["primitives"][:TOP_PRIMITIVES]]
        parts += [f"**{FRAMEWORK_NAMES[name]}**: {side['calls']:g} primitive calls, {side['onednn_ms']:.1f} ms per "
                  f"step (top {min(TOP_PRIMITIVES, len(rows))} by time).",
                  table(["primitive", "implementation", "propagation", "calls per step", "ms per step",
                          "share of oneDNN time"], rows)]
    return "\n\n".join(parts)


TUNED = ("What the package controls is tuned: batch norm runs as one fused op and its fused gradient "
         "(`keras_resnet.layers.BatchNormalization`, ~1.3× on this step), XLA stays off (its CPU convolutions are "
         "slower, compare the rows), and bfloat16 is one flag (`--mixed_precision`).")


def training_why(results: dict[str, Any]) -> str:
    """Why the training target is missed: the measured oneDNN primitives if that section ran."""
    if "onednn" not in results:
        return ("The profile section shows where: convolutions (TensorFlow's `_MklNative` oneDNN kernels) are most "
                "of keras_resnet's step; this run has no oneDNN primitives section to split them further. " + TUNED)
    o = results["onednn"]
    rows = {r["row"]: r for r in o["comparison"]}
    tf, pt = o["tensorflow"], o["torch"]

    def row(name: str) -> str:
        r = rows[name]
        return f"{r['tensorflow_ms']:.1f} vs {r['torch_ms']:.1f} ms ({r['gap_ms']:+.1f})"

    gaps = sorted((r for r in o["comparison"] if r["row"] != "step" and r["gap_ms"] > 0), key=lambda r: -r["gap_ms"])
    largest = ", ".join(f"{ONEDNN_ROWS[r['row']]} ({r['gap_ms']:+.1f} ms)" for r in gaps[:2]) or "none"
    return (f"Measured from oneDNN's own log (oneDNN primitives, under Profile; {o['steps']} steps per framework, "
            f"batch {o['batch']}, verbose on), TensorFlow vs PyTorch per step: the step {row('step')}; convolution "
            f"forward {row('conv_forward')}, backward data {row('conv_backward_data')}, backward weights "
            f"{row('conv_backward_weights')}; reorders {tf['reorders']['calls']:g} calls, "
            f"{tf['reorders']['ms']:.1f} ms vs {pt['reorders']['calls']:g} calls, {pt['reorders']['ms']:.1f} ms; "
            f"batch norm in oneDNN {row('batch_norm')}; primitives running at once {row('overlap')}; no primitive "
            f"running {row('outside_onednn')}. "
            f"Largest excesses of TensorFlow: {largest}. Convolution sources are "
            f"{tf['conv_source_layout']} in TensorFlow ({', '.join(tf['conv_source_formats']) or 'none'}) and "
            f"{pt['conv_source_layout']} in PyTorch ({', '.join(pt['conv_source_formats']) or 'none'}). " + TUNED)


