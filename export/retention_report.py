"""The retention report: every artifact against the Keras model, and the targets met or missed.

Written as ``report.json`` (everything, machine-readable), ``report.md`` (one
table to read at a glance, then the targets) and ``report.png`` (top-1
change from the Keras model, in points, against file size per variant).
Rows ``image_bytes png`` and ``image_bytes jpeg`` send the evaluation images,
encoded, through the SavedModel's ``image_bytes`` signature (decoding and
resizing included). Metrics per artifact, on the evaluation set: top-1
accuracy and its drop from Keras (percentage points), each with its standard
error, top-1 agreement with Keras, max abs difference of the probabilities,
size, and for LiteRT and ONNX files the median batch-1 latency per thread
count; the seconds of each phase of the export.

The standard errors say how far a number measured on the evaluation sample
may lie from the same number on the whole population of such images: top-1's
is binomial, ``sqrt(p (1 - p) / n)``; the drop's is paired, the standard
deviation of the per-image difference (Keras right minus artifact right, -1,
0 or 1) over ``sqrt(n)``, which only the images where the two disagree feed,
so a drop is known far more precisely than either accuracy (McNemar's
setting: the same images under two models).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the headless backend
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from export import variants  # noqa: E402

KERAS = "keras"
SAVEDMODEL = "savedmodel"
IMAGE_BYTES = "image_bytes"
ONNX = "onnx"
PLOT_MIN_SPAN = 1.0  # points: the accuracy axis spans at least +-1 point around the Keras model


@dataclasses.dataclass(frozen=True)
class Target:
    """``metric`` of ``variant`` must be <= ``limit``."""

    variant: str
    metric: str  # "max_abs_diff", "accuracy_drop" (points) or "size_ratio" (vs the fp32 file)
    limit: float

    @property
    def label(self) -> str:
        names = {"max_abs_diff": "max abs diff", "accuracy_drop": "top-1 drop (points)",
                 "size_ratio": "size / fp32 size"}
        return f"{self.variant} {names[self.metric]} <= {self.limit:g}"


def _targets(label: str) -> tuple[Target, ...]:
    return tuple(Target(label, metric, limit) for metric, limit in variants.checks(label))


# The SavedModel and ONNX files compute what the Keras model does in float32; each LiteRT variant has its checks.
TARGETS = (Target(SAVEDMODEL, "max_abs_diff", 1e-5), Target(ONNX, "max_abs_diff", 1e-4),
           *(target for name in variants.VARIANTS for target in _targets(name)))


@dataclasses.dataclass(frozen=True)
class Row:
    """One artifact measured on the evaluation set."""

    variant: str
    path: str  # relative to the output folder ("" for the Keras model)
    size_bytes: int | None
    accuracy: float
    accuracy_se: float  # standard error of accuracy (binomial)
    accuracy_drop: float  # percentage points below Keras
    drop_se: float  # standard error of accuracy_drop, in points (paired over the same images)
    agreement: float  # fraction of images with the same top-1 class as Keras
    max_abs_diff: float
    latency_ms: dict[str, float]  # threads -> median batch-1 latency


def measure(variant: str, path: str, size_bytes: int | None, probabilities: np.ndarray,
            reference: np.ndarray, labels: np.ndarray, latency_ms: dict[str, float]) -> Row:
    """A row from an artifact's ``probabilities`` and the Keras ``reference`` on the same images."""
    predicted = probabilities.argmax(axis=1)
    right = predicted == labels
    difference = (reference.argmax(axis=1) == labels).astype(np.float64) - right  # per image: -1, 0 or 1
    accuracy, count = float(np.mean(right)), len(labels)
    return Row(
        variant=variant,
        path=path,
        size_bytes=size_bytes,
        accuracy=accuracy,
        accuracy_se=float(np.sqrt(accuracy * (1 - accuracy) / count)),
        accuracy_drop=100.0 * float(np.mean(difference)),
        drop_se=100.0 * float(np.sqrt(np.var(difference) / count)),
        agreement=float(np.mean(predicted == reference.argmax(axis=1))),
        max_abs_diff=float(np.max(np.abs(probabilities - reference))),
        latency_ms=latency_ms,
    )


def _measured(target: Target, rows: dict[str, Row]) -> float | None:
    row = rows.get(target.variant)
    if row is None:
        return None
    if target.metric == "size_ratio":
        fp32 = rows.get("fp32")
        return None if fp32 is None else row.size_bytes / fp32.size_bytes
    return getattr(row, target.metric)


def build(rows: list[Row], info: dict[str, Any]) -> dict[str, Any]:
    """The report as a JSON-able dict: ``info`` (model, data, settings), rows and targets.

    The targets are :data:`TARGETS` and, for each per-tensor row, its variant's checks.
    """
    by_variant = {row.variant: row for row in rows}
    targets = []
    per_tensor = [t for row in rows if row.variant.endswith("_per_tensor") for t in _targets(row.variant)]
    for target in (*TARGETS, *per_tensor):
        value = _measured(target, by_variant)
        met = None if value is None else value <= target.limit
        se = by_variant[target.variant].drop_se if value is not None and target.metric == "accuracy_drop" else None
        targets.append({"target": target.label, "variant": target.variant, "metric": target.metric,
                        "limit": target.limit, "measured": value, "se": se, "met": met})
    return {**info, "rows": [dataclasses.asdict(row) for row in rows], "targets": targets}


def _size(size_bytes: int | None) -> str:
    return "—" if size_bytes is None else f"{size_bytes / 1024:,.1f} KB"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**MISSED**", None: "not measured"}[met]


def table(report: dict[str, Any]) -> str:
    """The per-artifact Markdown table (also what the CLI prints)."""
    threads = sorted({t for row in report["rows"] for t in row["latency_ms"]}, key=int)
    fp32 = next((row["size_bytes"] for row in report["rows"] if row["variant"] == "fp32"), None)
    head = ["variant", "file", "size", "size/fp32", "top-1 % ± SE", "drop (pts) ± SE", "agree %", "max abs diff"]
    head += [f"latency {t} thr (ms)" for t in threads]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["rows"]:
        tflite = fp32 and row["size_bytes"] and row["path"].endswith(".tflite")
        ratio = f"{row['size_bytes'] / fp32:.2f}" if tflite else "—"
        cells = [row["variant"], f"`{row['path']}`" if row["path"] else "—", _size(row["size_bytes"]), ratio,
                 f"{100 * row['accuracy']:.2f} ± {100 * row['accuracy_se']:.2f}",
                 f"{row['accuracy_drop']:+.2f} ± {row['drop_se']:.2f}", f"{100 * row['agreement']:.2f}",
                 f"{row['max_abs_diff']:.2e}"]
        cells += [f"{row['latency_ms'][t]:.2f}" if t in row["latency_ms"] else "—" for t in threads]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def targets_table(report: dict[str, Any]) -> str:
    """The targets, each met, missed or not measured."""
    lines = ["| target | measured | verdict |", "|---|---|---|"]
    for target in report["targets"]:
        value = "—" if target["measured"] is None else f"{target['measured']:.3g}"
        value += "" if target.get("se") is None else f" ± {target['se']:.2g}"
        lines.append(f"| {target['target']} | {value} | {_verdict(target['met'])} |")
    return "\n".join(lines)


def phases_table(report: dict[str, Any]) -> str:
    """Seconds per phase, in the order they ran (a calibration runs inside its conversion)."""
    lines = ["| phase | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in report.get("phases_s", {}).items()]
    return "\n".join(lines)


def _markdown(report: dict[str, Any]) -> str:
    missed = [t["target"] for t in report["targets"] if t["met"] is False]
    summary = "All measured targets met." if not missed else f"Targets missed: {', '.join(missed)}."
    qat = report.get("qat")
    qat_note = "" if not qat else (
        f"\nQAT: the tf_keras rebuild matched the Keras 3 model to {qat['rebuild_max_abs_diff']:.2e} "
        f"(max abs diff) before fine-tuning; fine-tuned {qat['epochs']} epoch(s) on {qat['samples']} images "
        f"(batch {qat.get('batch_size', '?')}, Adam lr {qat.get('learning_rate', '?')}, batch norm "
        f"{'frozen' if qat.get('freeze_batch_norm') else 'trained'}).\n")
    source = report.get("image_bytes_source")
    bytes_note = "" if not source else (
        f" The `image_bytes` rows send {source} as PNG and JPEG through the SavedModel's `image_bytes` "
        f"signature (resize `{report['preprocessing']['resize']}`, short side "
        f"{report['preprocessing'].get('short_side')}).")
    wall = f" Export wall time: {report['wall_time_s']:.0f} s." if "wall_time_s" in report else ""
    return (
        f"# Export retention report: {report['model_name']}\n\n"
        f"Every artifact against the Keras model on {report['eval_samples']} evaluation images "
        f"(Keras top-1: {100 * report['keras_accuracy']:.2f} ± {100 * report['rows'][0]['accuracy_se']:.2f} %). "
        f"Drop = Keras top-1 minus the artifact's, in percentage points; ± one standard error (top-1: binomial; "
        f"drop: paired over the same images, fed only by the images where the two disagree); agree = same "
        f"top-1 class as Keras; max abs diff over all class probabilities; "
        f"latency = median of {report['latency_runs']} batch-1 LiteRT or onnxruntime invocations.{bytes_note}"
        f"{wall}\n\n"
        f"{table(report)}\n\n## Targets\n\n{summary}\n\n{targets_table(report)}\n{qat_note}\n"
        f"![accuracy vs size](report.png)\n"
        + ("" if "phases_s" not in report else f"\n## Time per phase\n\n{phases_table(report)}\n")
    )


def accuracy_limits(changes: list[float]) -> tuple[float, float]:
    """y-axis limits (points) showing every change with a margin, and at least +-:data:`PLOT_MIN_SPAN`."""
    low, high = min([0.0, *changes]), max([0.0, *changes])
    margin = 0.15 * (high - low) + 0.1
    return min(low - margin, -PLOT_MIN_SPAN), max(high + margin, PLOT_MIN_SPAN)


def _plot(report: dict[str, Any], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    markers = "osD^v<>ph*"
    rows = [r for r in report["rows"] if r["size_bytes"] is not None]
    for index, row in enumerate(rows):
        size, change = row["size_bytes"] / 1024, 0.0 - row["accuracy_drop"]
        axes.scatter(size, change, marker=markers[index % len(markers)], s=60,
                     label=f"{row['variant']}: {size:,.0f} KB, {100 * row['accuracy']:.2f} % ({change:+.2f})")
    axes.axhline(0.0, linestyle="--", color="grey",
                 label=f"Keras model: {100 * report['keras_accuracy']:.2f} %")
    axes.set_ylim(*accuracy_limits([-r["accuracy_drop"] for r in rows]))
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("file size (KB, log scale)")
    axes.set_ylabel("top-1 change from Keras (points)")
    axes.set_title(f"{report['model_name']}: accuracy vs size ({report['eval_samples']} eval images)")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write(report: dict[str, Any], folder: Path) -> None:
    """Write ``report.json``, ``report.md`` and ``report.png`` into ``folder``."""
    (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (folder / "report.md").write_text(_markdown(report), encoding="utf-8")
    _plot(report, folder / "report.png")
