"""One training run of a study: :func:`keras_resnet.training.fit` plus the
per-iteration training error of Fig. 6 and the time per step of the depth
study, cached so a study can be rerun (e.g. to redraw its figure) without
retraining.

Every run of a study shares one recipe (:class:`Recipe`) and differs only in
the net (:class:`Net`) and the seed, as in the paper's comparisons (§4.1,
§4.2: "the same" hyper-parameters for plain and residual nets).
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

LR_SCHEDULES = ("none", *training.LR_SCHEDULES)
TIMING_WARMUP_STEPS = 2  # the first steps trace and compile the graph
RECORD = "record.json"
ITERATIONS = "iterations.csv"
CIFAR_SIZE = 32  # the CIFAR nets' input side (§4.2); 28x28 Fashion-MNIST is zero-padded to it


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What every run of a study shares: data, optimisation schedule and width.

    ``lr_schedule="none"`` keeps the learning rate constant; ``"step"``
    divides it by 10 at ``lr_decay_epochs`` (default 50 % and 75 % of
    training, as §4.2's 32k/48k of 64k iterations); ``"cosine"`` decays it
    to 0.
    """

    dataset: str = "fashion_mnist"
    data_dir: str | None = None
    train_examples: int | None = 5000
    eval_examples: int | None = 2000
    epochs: int = 4
    batch_size: int = 128
    learning_rate: float = 0.1
    lr_schedule: str = "none"
    lr_decay_epochs: tuple[float, ...] | None = None
    warmup_steps: int = 40  # §4.2's warm-up at 0.01 (there for ResNet-110), here for every net
    width_multiplier: float = 0.5
    jit_compile: bool = False

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"`lr_schedule` must be one of {LR_SCHEDULES}; received "
                             f"lr_schedule={self.lr_schedule!r}")
        if self.lr_schedule == "none" and self.lr_decay_epochs:
            raise ValueError("`lr_decay_epochs` needs lr_schedule='step'")

    def train_config(self, net: Net, seed: int, model_dir: str) -> training.TrainConfig:
        """The :class:`~keras_resnet.training.TrainConfig` of ``net`` trained with this recipe."""
        constant = self.lr_schedule == "none"
        return training.TrainConfig(
            model=net.model, plain=net.plain, shortcut=net.shortcut, width_multiplier=self.width_multiplier,
            image_size=CIFAR_SIZE,  # explicit, as fit records it in config.json (compared on reuse)
            dataset=self.dataset, data_dir=self.data_dir, train_examples=self.train_examples,
            eval_examples=self.eval_examples, epochs=self.epochs, global_batch_size=self.batch_size,
            learning_rate=self.learning_rate, lr_schedule="step" if constant else self.lr_schedule,
            # A single "decay" at the very last step leaves the rate constant throughout.
            lr_decay_epochs=(self.epochs,) if constant else self.lr_decay_epochs,
            warmup_steps=self.warmup_steps, model_dir=model_dir, seed=seed, jit_compile=self.jit_compile)


@dataclasses.dataclass(frozen=True)
class Net:
    """A network of a study: a :func:`keras_resnet.get_model` name, plain or
    residual (§4.1), with a shortcut option (§3.3; ``None``: the family default)."""

    model: str
    plain: bool = False
    shortcut: str | None = None

    @property
    def depth(self) -> int:
        """Weighted layers, read off the name (``resnet56``: 56)."""
        return int(self.model.rsplit("resnet", 1)[1])

    @property
    def label(self) -> str:
        """Paper-style name: ``plain-56``, ``ResNet-56``, ``ResNet-20 (B)``, ``preact-ResNet-1001``."""
        name = f"plain-{self.depth}" if self.plain else f"ResNet-{self.depth}"
        if self.model.startswith("preact_"):
            name = f"preact-{name}"
        return f"{name} ({self.shortcut})" if self.shortcut else name

    @property
    def slug(self) -> str:
        """File-system name, e.g. ``plain_resnet56_A``."""
        return "_".join(filter(None, ("plain" if self.plain else "", self.model, self.shortcut)))


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
        return json.loads((Path(self.final_model).parent / "config.json").read_text())["num_classes"]

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


def _finished(run_dir: Path, config: training.TrainConfig) -> bool:
    """Whether ``run_dir`` holds a finished run of exactly ``config``. A run
    of another config there, or one whose iteration log has other columns
    (an older version's), is deleted (else ``fit`` would resume from it)."""
    config_file = run_dir / "config.json"
    if not config_file.exists():
        return False
    saved = json.loads(config_file.read_text())
    wanted = _json_round_trip(config.to_dict())
    log = run_dir / ITERATIONS
    stale_log = log.exists() and log.read_text().partition("\n")[0] != ",".join(IterationLog.COLUMNS)
    if stale_log or any(k in saved and saved[k] != v for k, v in wanted.items()):  # fields added later: equal
        shutil.rmtree(run_dir)
        return False
    return (run_dir / RECORD).exists()


def train(net: Net, recipe: Recipe, seed: int, work_dir: str | os.PathLike) -> RunRecord:
    """Train ``net`` with ``recipe`` and ``seed`` in ``work_dir/<net>_seed<seed>``,
    or read the record of that exact run if it already finished there."""
    run_dir = Path(work_dir) / f"{net.slug}_seed{seed}"
    config = recipe.train_config(net, seed, str(run_dir))
    record = run_dir / RECORD
    if not _finished(run_dir, config):
        if not (run_dir / "backup").is_dir():
            (run_dir / ITERATIONS).unlink(missing_ok=True)
        print(f"--- training {net.label}, seed {seed} -> {run_dir}", flush=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        result = training.fit(config, callbacks=[IterationLog(run_dir / ITERATIONS)])
        params = analysis.count_trainable_params(keras.models.load_model(result.final_model, compile=False))
        steps = json.loads((run_dir / "config.json").read_text())["steps_per_epoch"]
        training.write_json(record, {"history": _history(run_dir), "test": result.test,
                                     "steps_per_epoch": steps, "params": params,
                                     "final_model": result.final_model})
    saved = json.loads(record.read_text())
    return RunRecord(net, seed, saved["history"], saved["test"], read_iterations(run_dir / ITERATIONS),
                     saved["steps_per_epoch"], saved["params"], saved["final_model"])


def _history(run_dir: Path) -> dict[str, list[float]]:
    """Every epoch's logs from the run's CSV history (complete after a resume)."""
    table = np.genfromtxt(run_dir / "history.csv", delimiter=",", names=True, ndmin=1)
    return {name: table[name].astype(float).tolist() for name in table.dtype.names if name != "epoch"}


def iter_runs(nets: list[Net], recipe: Recipe, seeds: list[int], work_dir: str | os.PathLike
              ) -> Iterator[RunRecord]:
    """:func:`train` every net with every seed, seed-major (all nets of seed 0 first)."""
    for seed in seeds:
        for net in nets:
            yield train(net, recipe, seed, work_dir)
