"""One training run of a study: :func:`keras_resnet.training.fit` plus the
per-iteration training error of Fig. 6 and the time per step of the depth
study, cached so a study can be rerun (e.g. to redraw its figure) without
retraining.

The recipe and the nets are in :mod:`keras_resnet.experiments.design`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_resnet import analysis, training
from keras_resnet.experiments.design import Net, train_config
from keras_resnet.io import write_json
from keras_resnet.layers import load_model
from keras_resnet.training.config import TrainConfig, read_run_config

TIMING_WARMUP_STEPS = 2  # the first steps trace and compile the graph
RECORD = "record.json"
ITERATIONS = "iterations.csv"

@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What a finished run left: the per-epoch ``history`` (Keras logs), the
    final model's ``test`` metrics, ``iterations`` (per-step training
    error, loss and seconds), ``steps_per_epoch``, trainable ``params`` and
    the path of the final model."""

    net: Net
    seed: int
    history: dict[str, list[float]]
    test: dict[str, float]
    iterations: dict[str, list[float]]
    steps_per_epoch: int
    params: int
    final_model: str

    @property
    def train_error(self) -> float:
        """Training error of the last epoch (%), as the paper's Fig. 6 curves
        measure it: on augmented mini-batches while training."""
        return 100 * (1 - self.history["accuracy"][-1])

    @property
    def test_error(self) -> float:
        """Test error (%) of the final model."""
        return 100 * (1 - self.test["accuracy"])

    @property
    def num_classes(self) -> int:
        """Classes of the run's dataset, as ``fit`` recorded them beside the final model."""
        return read_run_config(self.final_model)["num_classes"]

    @property
    def seconds_per_step(self) -> float:
        """Median wall time of a training step, after the compiling first steps."""
        seconds = self.iterations["seconds"]
        return float(np.median(seconds[TIMING_WARMUP_STEPS:] or seconds))


class IterationLog(keras.callbacks.Callback):
    """Per-iteration training error, loss (with the weight-decay penalty),
    cross-entropy (without it) and step time for Fig. 6-style curves.

    Keras reports running means over the epoch; the value of batch ``k`` is
    recovered as ``k * mean_k - (k - 1) * mean_{k-1}`` (batches are equal,
    ``drop_remainder``). Rows are appended to ``path`` at each epoch end, so
    a resumed run keeps the iterations of its finished epochs.
    """

    COLUMNS = ("iteration", "train_error", "loss", "cross_entropy", "seconds")
    LOGGED = ("accuracy", "loss", "cross_entropy")  # the Keras running means it reads

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._rows: list[tuple[float, ...]] = []
        self._means = (0.0,) * len(self.LOGGED)
        self._start = 0.0
        self._epoch = 0
        self._steps = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch, self._rows, self._means = epoch, [], (0.0,) * len(self.LOGGED)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        means = tuple(float(logs[name]) for name in self.LOGGED)
        accuracy, loss, xent = ((batch + 1) * new - batch * old for new, old in zip(means, self._means, strict=True))
        self._means = means
        self._steps = max(self._steps, batch + 1)
        iteration = self._epoch * self._steps + batch + 1
        self._rows.append((iteration, 100 * (1 - accuracy), loss, xent, time.perf_counter() - self._start))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        new = not self.path.exists()
        with open(self.path, "a") as f:
            if new:
                f.write(",".join(self.COLUMNS) + "\n")
            f.writelines(f"{i},{e:.4f},{loss:.6g},{xent:.6g},{s:.6f}\n" for i, e, loss, xent, s in self._rows)


def read_iterations(path: Path) -> dict[str, list[float]]:
    """The columns of an :class:`IterationLog` file."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {name: table[:, i].tolist() for i, name in enumerate(IterationLog.COLUMNS)}


def _json_round_trip(data: Any) -> Any:
    return json.loads(json.dumps(data))


def _finished(run_dir: Path, config: TrainConfig) -> bool:
    """Whether ``run_dir`` holds a finished run of exactly ``config``. A run
    of another config there, or one whose iteration log has other columns
    (an older version's), is deleted (else ``fit`` would resume from it)."""
    saved = read_run_config(run_dir / "final.keras")
    if saved is None:
        return False
    wanted = _json_round_trip(config.to_dict())
    log = run_dir / ITERATIONS
    stale_log = log.exists() and log.read_text().partition("\n")[0] != ",".join(IterationLog.COLUMNS)
    if stale_log or any(k in saved and saved[k] != v for k, v in wanted.items()):  # fields added later: equal
        shutil.rmtree(run_dir)
        return False
    return (run_dir / RECORD).exists()


def train(net: Net, recipe: TrainConfig, seed: int, work_dir: str | os.PathLike) -> RunRecord:
    """Train ``net`` with ``recipe`` and ``seed`` in ``work_dir/<net>_seed<seed>``,
    or read the record of that exact run if it already finished there."""
    run_dir = Path(work_dir) / f"{net.slug}_seed{seed}"
    config = train_config(recipe, net, seed, str(run_dir))
    record = run_dir / RECORD
    if not _finished(run_dir, config):
        if not (run_dir / "backup").is_dir():
            (run_dir / ITERATIONS).unlink(missing_ok=True)
        print(f"--- training {net.label}, seed {seed} -> {run_dir}", flush=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        result = training.fit(config, callbacks=[IterationLog(run_dir / ITERATIONS)])
        params = analysis.count_trainable_params(load_model(result.final_model, compile=False))
        steps = read_run_config(result.final_model)["steps_per_epoch"]
        write_json(record, {"history": _history(run_dir), "test": result.test, "steps_per_epoch": steps,
                            "params": params, "final_model": result.final_model})
    saved = json.loads(record.read_text())
    return RunRecord(net, seed, saved["history"], saved["test"], read_iterations(run_dir / ITERATIONS),
                     saved["steps_per_epoch"], saved["params"], saved["final_model"])


def _history(run_dir: Path) -> dict[str, list[float]]:
    """Every epoch's logs from the run's CSV history (complete after a resume)."""
    table = np.genfromtxt(run_dir / "history.csv", delimiter=",", names=True, ndmin=1)
    return {name: table[name].astype(float).tolist() for name in table.dtype.names if name != "epoch"}


def iter_runs(nets: list[Net], recipe: TrainConfig, seeds: list[int], work_dir: str | os.PathLike
              ) -> Iterator[RunRecord]:
    """:func:`train` every net with every seed, seed-major (all nets of seed 0 first)."""
    for seed in seeds:
        for net in nets:
            yield train(net, recipe, seed, work_dir)
