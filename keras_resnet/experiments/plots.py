"""The studies' figures, drawn with matplotlib's Agg backend (no display needed).

* :func:`training_curves`: paper Fig. 6 — training error (thin) and test
  error (bold) vs iterations, plain nets on the left, ResNets on the right.
* :func:`layer_responses`: paper Fig. 7 — standard deviation of each 3x3
  layer's response, in network order (top) and sorted (bottom).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from keras_resnet.experiments.runs import Net, RunRecord  # noqa: E402

SMOOTHING = 0.25  # moving-average window for per-iteration training error, in epochs
DPI = 120


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average over ``window`` values (fewer at the start)."""
    sums = np.concatenate([[0.0], np.cumsum(np.asarray(values, dtype=float))])
    ends = np.arange(1, len(sums))
    counts = np.minimum(ends, window)
    return (sums[ends] - sums[ends - counts]) / counts


def training_curves(runs: Sequence[RunRecord], path: Path, title: str) -> None:
    """Fig. 6: per-net training error (thin, smoothed over a quarter epoch,
    mean over seeds) and test error at each epoch end (bold), plain nets on
    the left and residual nets on the right, same colour per depth."""
    groups: dict[Net, list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(run.net, []).append(run)
    depths = sorted({run.net.depth for run in runs})
    colours = dict(zip(depths, plt.cm.viridis(np.linspace(0.0, 0.8, len(depths))), strict=True))
    top = max(max(max(r.iterations["train_error"]) for r in runs), max(_test_errors(r).max() for r in runs))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, plain in zip(axes, (True, False), strict=True):
        for group in sorted(groups.values(), key=lambda g: g[0].net.depth):
            if group[0].net.plain != plain:
                continue
            colour = colours[group[0].net.depth]
            window = max(1, round(SMOOTHING * group[0].steps_per_epoch))
            length = min(len(r.iterations["iteration"]) for r in group)
            train = np.mean([smooth(r.iterations["train_error"][:length], window) for r in group], axis=0)
            ax.plot(group[0].iterations["iteration"][:length], train, color=colour, linewidth=0.8, alpha=0.8)
            epochs = np.arange(1, len(group[0].history["val_accuracy"]) + 1) * group[0].steps_per_epoch
            test = np.mean([_test_errors(r) for r in group], axis=0)
            ax.plot(epochs, test, color=colour, linewidth=2.5, marker="o", markersize=3, label=group[0].net.label)
        ax.set_title("plain networks" if plain else "residual networks (ResNets)")
        ax.set_xlabel("iterations")
        ax.set_ylim(0, min(100, top * 1.05))
        ax.grid(alpha=0.3)
        ax.legend(title="thin: train, bold: test", fontsize=8, title_fontsize=8)
    axes[0].set_ylabel("error (%)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _test_errors(run: RunRecord) -> np.ndarray:
    return 100 * (1 - np.asarray(run.history["val_accuracy"]))


def layer_responses(stds: Mapping[str, Sequence[float]], path: Path, title: str) -> None:
    """Fig. 7: std of each 3x3 layer's response (after BN, before the
    nonlinearity / addition) per net; top in layer order, bottom sorted in
    descending order. Plain nets dashed, ResNets solid."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    for label, values in stds.items():
        style = "--" if label.startswith("plain") else "-"
        layers = np.arange(1, len(values) + 1)
        axes[0].plot(layers, values, style, label=label, linewidth=1.2)
        axes[1].plot(layers, sorted(values, reverse=True), style, label=label, linewidth=1.2)
    axes[0].set_title("layer index (original order)", fontsize=9)
    axes[1].set_title("layer index (sorted by magnitude)", fontsize=9)
    axes[1].set_xlabel("3x3 layer")
    for ax in axes:
        ax.set_ylabel("std of response")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
