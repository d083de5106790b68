"""Writing a study's outputs: ``summary.md`` (its setup, tables with mean ±
std over seeds, claims), ``results.csv`` (every epoch of every run) and its
figure, in a folder replaced atomically (:func:`write_study`)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_resnet.experiments.runs import Net, RunRecord
from keras_resnet.io import atomic_dir
from keras_resnet.training.config import TrainConfig, default_decay_epochs

SUMMARY = "summary.md"
RESULTS = "results.csv"


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A CSV file with a header row."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)


def mean_std(values: Sequence[float], digits: int = 1) -> str:
    """``"12.3 ± 0.4"`` (sample std over seeds; just the value for one seed)."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def by_net(runs: Sequence[RunRecord]) -> dict[Net, list[RunRecord]]:
    """Runs grouped by net, seeds in run order; nets in first-seen order."""
    groups: dict[Net, list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(run.net, []).append(run)
    return groups


def errors(groups: dict[Net, list[RunRecord]], net: Net, attribute: str = "train_error") -> list[float]:
    return [getattr(run, attribute) for run in groups[net]]


def setup(recipe: TrainConfig, seeds: Sequence[int], command: str) -> str:
    """The Markdown lines stating a study's recipe and command."""
    schedule = recipe.lr_schedule
    if schedule == "step":
        decay = recipe.lr_decay_epochs or default_decay_epochs(recipe.epochs)
        schedule += f" (/10 at epochs {', '.join(f'{e:g}' for e in decay)})"
    lines = [f"- data: {recipe.dataset}, first {recipe.train_examples or 'all'} training images, "
             f"test error on the first {recipe.eval_examples or 'all'} test images",
             f"- recipe: {recipe.epochs} epochs, batch {recipe.global_batch_size}, SGD momentum 0.9, "
             f"weight decay 1e-4, lr {recipe.learning_rate:g}, schedule {schedule}"
             + (f", warm-up {recipe.warmup_steps} steps at 0.01" if recipe.warmup_steps else "")
             + f"; width multiplier {recipe.width_multiplier:g}",
             f"- seeds: {', '.join(map(str, seeds))}"]
    if command:
        lines.append(f"- command: `{command}`")
    return "\n".join(lines) + "\n"


def error_table(groups: dict[Net, list[RunRecord]], extra: Sequence[tuple[str, Callable[[list[RunRecord]], str]]]
                 = ()) -> str:
    """Per net: params, train / test error mean ± std over seeds, per-seed train errors, ``extra`` columns."""
    columns = ["net", "params", "train error (%)", "test error (%)", "train error per seed (%)",
               *(name for name, _ in extra)]
    rows = []
    for net, runs in groups.items():
        rows.append([net.label, f"{runs[0].params:,}", mean_std([r.train_error for r in runs]),
                     mean_std([r.test_error for r in runs]),
                     ", ".join(f"{r.train_error:.1f}" for r in runs), *(cell(runs) for _, cell in extra)])
    return markdown_table(columns, rows)


EPOCH_COLUMNS = ("net", "plain", "depth", "shortcut", "seed", "epoch", "iteration", "params", "train_loss",
                 "train_cross_entropy", "train_error", "test_loss", "test_error")


def epoch_rows(runs: Sequence[RunRecord]) -> list[list[object]]:
    """:data:`EPOCH_COLUMNS` rows: every epoch of every run (errors in %; the
    loss includes the weight-decay penalty, the cross-entropy does not)."""
    rows = []
    for run in runs:
        h = run.history
        for epoch in range(len(h["accuracy"])):
            rows.append([run.net.label, int(run.net.plain), run.net.depth, run.net.shortcut or "", run.seed,
                         epoch + 1, (epoch + 1) * run.steps_per_epoch, run.params, f"{h['loss'][epoch]:.6g}",
                         f"{h['cross_entropy'][epoch]:.6g}", f"{100 * (1 - h['accuracy'][epoch]):.3f}",
                         f"{h['val_loss'][epoch]:.6g}", f"{100 * (1 - h['val_accuracy'][epoch]):.3f}"])
    return rows


def write_study(out_dir: str | Path, summary: str, runs: Sequence[RunRecord],
           figure: Callable[[Path], None] | None = None) -> None:
    """Write ``summary.md``, ``results.csv`` (per-epoch rows) and the figure into ``out_dir``, atomically."""
    with atomic_dir(out_dir) as tmp:
        (tmp / SUMMARY).write_text(summary)
        write_csv(tmp / RESULTS, EPOCH_COLUMNS, epoch_rows(runs))
        if figure is not None:
            figure(tmp)
