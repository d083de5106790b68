"""The paper's central experiments, each writing its figure / tables into an output folder.

* :func:`degradation` — Fig. 6: plain nets get worse training error with
  depth, ResNets do not (§4.1, §4.2).
* :func:`shortcuts` — Table 3: shortcut options A (zero-padding), B
  (projections where dimensions increase) and C (all projections) (§3.3).
* :func:`depth` — Table 6 and "exploring over 1000 layers" (§4.2): params,
  time per step and error from ResNet-20 to ResNet-110, and opt-in the
  1202-layer net and the pre-activation 164/1001-layer nets (He et al.,
  ECCV 2016) for a bounded number of steps.
* :func:`responses` — Fig. 7: std of the 3x3 layers' responses (after BN,
  before the nonlinearity / addition), plain vs residual.

Every study trains through :func:`keras_resnet.experiments.runs.train` (so
finished runs are reused) and replaces its output folder atomically.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

from keras_resnet import datasets, training
from keras_resnet.experiments import plots, report
from keras_resnet.experiments.runs import Net, RunRecord, iter_runs, train
from keras_resnet.io import atomic_dir
from keras_resnet.training.config import TrainConfig, default_decay_epochs

SUMMARY = "summary.md"
RESULTS = "results.csv"
_RESPONSE_LAYER = re.compile(r"^conv\d+(_block\d+_[12])?_bn$")  # the 3x3 layers' BN of a basic-block net


@dataclasses.dataclass(frozen=True)
class Claim:
    """A statement of the paper checked on the runs: ``holds`` on the seed
    means, ``per_seed`` on each seed; ``left`` / ``right`` are the compared means."""

    text: str
    holds: bool
    per_seed: tuple[bool, ...]
    left: float
    right: float
    unit: str = " %"

    def line(self) -> str:
        """``"plain-56 train error > plain-20: yes (36.6 % vs 21.2 %; every seed: yes, 3/3)"``."""
        seeds = (f"; every seed: {report.yes_no(all(self.per_seed))}, {sum(self.per_seed)}/{len(self.per_seed)}"
                 if len(self.per_seed) > 1 else "")
        return (f"- {self.text}: **{report.yes_no(self.holds)}** "
                f"({self.left:.{_digits(self.unit)}f}{self.unit} vs {self.right:.{_digits(self.unit)}f}{self.unit}"
                f"{seeds})")


def _digits(unit: str) -> int:
    return 1 if unit.strip() == "%" else 3


def compare(text: str, left: Sequence[float], right: Sequence[float], relation: Callable[[float, float], bool],
            unit: str = " %") -> Claim:
    """A :class:`Claim` that ``relation(left, right)`` holds, on the means and per seed."""
    per_seed = tuple(relation(a, b) for a, b in zip(left, right, strict=True))
    a, b = float(np.mean(left)), float(np.mean(right))
    return Claim(text, relation(a, b), per_seed, a, b, unit)


def _by_net(runs: Sequence[RunRecord]) -> dict[Net, list[RunRecord]]:
    """Runs grouped by net, seeds in run order; nets in first-seen order."""
    groups: dict[Net, list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(run.net, []).append(run)
    return groups


def _errors(groups: dict[Net, list[RunRecord]], net: Net, attribute: str = "train_error") -> list[float]:
    return [getattr(run, attribute) for run in groups[net]]


def _setup(recipe: TrainConfig, seeds: Sequence[int], command: str) -> str:
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


def _error_table(groups: dict[Net, list[RunRecord]], extra: Sequence[tuple[str, Callable[[list[RunRecord]], str]]]
                 = ()) -> str:
    """Per net: params, train / test error mean ± std over seeds, per-seed train errors, ``extra`` columns."""
    columns = ["net", "params", "train error (%)", "test error (%)", "train error per seed (%)",
               *(name for name, _ in extra)]
    rows = []
    for net, runs in groups.items():
        rows.append([net.label, f"{runs[0].params:,}", report.mean_std([r.train_error for r in runs]),
                     report.mean_std([r.test_error for r in runs]),
                     ", ".join(f"{r.train_error:.1f}" for r in runs), *(cell(runs) for _, cell in extra)])
    return report.markdown_table(columns, rows)


EPOCH_COLUMNS = ("net", "plain", "depth", "shortcut", "seed", "epoch", "iteration", "params", "train_loss",
                 "train_cross_entropy", "train_error", "test_loss", "test_error")


def _epoch_rows(runs: Sequence[RunRecord]) -> list[list[object]]:
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


def _write(out_dir: str | Path, summary: str, runs: Sequence[RunRecord],
           figure: Callable[[Path], None] | None = None) -> None:
    """Write ``summary.md``, ``results.csv`` (per-epoch rows) and the figure into ``out_dir``, atomically."""
    with atomic_dir(out_dir) as tmp:
        (tmp / SUMMARY).write_text(summary)
        report.write_csv(tmp / RESULTS, EPOCH_COLUMNS, _epoch_rows(runs))
        if figure is not None:
            figure(tmp)


def degradation(recipe: TrainConfig, depths: Sequence[int], seeds: Sequence[int], out_dir: str | Path,
                work_dir: str | Path, shortcut: str | None = None, command: str = "") -> list[Claim]:
    """Fig. 6: train plain and residual nets of each depth with one recipe.

    Writes ``curves.png`` (training error thin, test error bold vs
    iterations; plain left, ResNets right), ``results.csv`` (per-epoch
    metrics of every run) and ``summary.md`` (errors, mean ± std over seeds,
    and the paper's three claims, shallowest vs deepest depth: plain nets
    degrade, ResNets fix it, deeper ResNets train better). Returns the claims.
    """
    shallow, deep = min(depths), max(depths)
    if shallow == deep:
        raise ValueError(f"`depths` needs at least two depths; received depths={list(depths)}")
    nets = [Net(f"resnet{d}", plain, shortcut) for plain in (True, False) for d in sorted(depths)]
    runs = list(iter_runs(nets, recipe, seeds, work_dir))
    groups = _by_net(runs)
    plain = {d: Net(f"resnet{d}", True, shortcut) for d in (shallow, deep)}
    res = {d: Net(f"resnet{d}", False, shortcut) for d in (shallow, deep)}
    claims = [
        compare(f"{plain[deep].label} train error > {plain[shallow].label}", _errors(groups, plain[deep]),
                _errors(groups, plain[shallow]), operator.gt),
        compare(f"{res[deep].label} train error < {plain[deep].label}", _errors(groups, res[deep]),
                _errors(groups, plain[deep]), operator.lt),
        compare(f"{res[deep].label} train error <= {res[shallow].label}", _errors(groups, res[deep]),
                _errors(groups, res[shallow]), operator.le),
    ]
    iterations = recipe.epochs * runs[0].steps_per_epoch
    summary = (f"# Degradation: plain vs residual nets (paper Fig. 6)\n\n{_setup(recipe, seeds, command)}"
               f"- {iterations} iterations per run; train error = last epoch, on augmented mini-batches "
               "while training (as in Fig. 6); test error = final model\n\n"
               f"![curves](curves.png)\n\n{_error_table(groups)}\n## Claims\n\n"
               + "\n".join(c.line() for c in claims) + "\n")
    title = (f"{recipe.dataset}, {recipe.train_examples or 'all'} images, {iterations} iterations, "
             f"width x{recipe.width_multiplier:g}, mean of {len(seeds)} seed(s)")
    _write(out_dir, summary, runs, lambda tmp: plots.training_curves(runs, tmp / "curves.png", title))
    return claims


def shortcuts(recipe: TrainConfig, depth: int, options: Sequence[str], seeds: Sequence[int], out_dir: str | Path,
              work_dir: str | Path, command: str = "") -> list[Claim]:
    """Table 3: ResNet-``depth`` with each shortcut option in ``options``.

    Writes ``summary.md`` (params, train / test error per option and the
    paper's ordering A > B > C in error, checked on test error) and
    ``results.csv``. Returns the claims.
    """
    nets = [Net(f"resnet{depth}", False, option) for option in options]
    runs = list(iter_runs(nets, recipe, seeds, work_dir))
    groups = _by_net(runs)
    claims = [compare(f"{b.label} test error < {a.label}", _errors(groups, b, "test_error"),
                      _errors(groups, a, "test_error"), operator.lt)
              for a, b in zip(nets, nets[1:], strict=False)]
    summary = (f"# Shortcut options A / B / C (paper Table 3, §3.3)\n\n{_setup(recipe, seeds, command)}"
               "- A: zero-padding shortcuts (parameter-free); B: projections where dimensions increase; "
               "C: all shortcuts are projections\n\n"
               f"{_error_table(groups)}\n## Claims\n\n" + "\n".join(c.line() for c in claims) + "\n")
    _write(out_dir, summary, runs)
    return claims


def depth(recipe: TrainConfig, depths: Sequence[int], seeds: Sequence[int], out_dir: str | Path,
          work_dir: str | Path, deep_models: Sequence[str] = (), deep_steps: int = 20, shortcut: str | None = None,
          command: str = "", deep_batch_size: int | None = None) -> list[Claim]:
    """Table 6 and §4.2 "exploring over 1000 layers": ResNet-``depths`` with
    ``recipe``, then each of ``deep_models`` (e.g. ``resnet1202``,
    ``preact_resnet164``, ``preact_resnet1001``) for ``deep_steps`` steps
    (one epoch of ``deep_steps`` batches of ``deep_batch_size``, default the
    recipe's, at the recipe's learning rate after the recipe's warm-up steps
    at 0.01, which may cover all of them: the paper warms its 110- and
    1001-layer nets up at 0.01 for ~400 iterations, longer than such a run).

    Writes ``summary.md`` (layers, params, time per step, errors, first and
    last cross-entropy and weight-decay penalty, the kernel with the largest
    share of the final penalty; claims: the deepest ResNet trains at least
    as well as the shallowest, and each deep model :func:`trains_claim`; a
    deep model whose loss becomes NaN is reported, not raised) and
    ``results.csv``. Returns the claims.

    The claims read the cross-entropy, not the logged loss: in the
    1001-layer pre-activation net the gradient at the first layers is ~10^3
    times their kernels' norm at initialisation, so the first steps grow
    those kernels by orders of magnitude (the stem conv most: it feeds only
    the first block's BN, so its scale does not change the function) and
    the L2 penalty with them, while the data loss falls.
    """
    nets = [Net(f"resnet{d}", False, shortcut) for d in sorted(depths)]
    runs = list(iter_runs(nets, recipe, seeds, work_dir))
    batch = deep_batch_size or recipe.global_batch_size
    short = dataclasses.replace(recipe, global_batch_size=batch, train_examples=deep_steps * batch, epochs=1,
                                lr_schedule="constant", lr_decay_epochs=None,
                                warmup_steps=min(recipe.warmup_steps, deep_steps))
    extra = [Net(name) for name in deep_models]
    for net in extra:
        try:
            runs.append(train(net, short, seeds[0], work_dir))
        except FloatingPointError as err:  # training.TerminateOnNaN; the net gets no row and a "no" claim
            print(err, flush=True)
    groups = _by_net(runs)
    columns = [("steps", lambda rs: str(len(rs[0].iterations["loss"]))),
               ("time / step (s)", lambda rs: f"{np.mean([r.seconds_per_step for r in rs]):.3f}"),
               ("cross-entropy first → last step", lambda rs: _ends(rs[0].iterations["cross_entropy"])),
               ("L2 penalty first → last step", lambda rs: _ends(_penalty(rs[0]))),
               ("largest share of the final L2", lambda rs: _largest_kernel(rs[0]))]
    claims = []
    if len(nets) > 1:
        claims.append(compare(f"{nets[-1].label} train error <= {nets[0].label}", _errors(groups, nets[-1]),
                              _errors(groups, nets[0]), operator.le))
    claims += [trains_claim(net.label, groups[net][0].iterations["cross_entropy"] if net in groups else None,
                            runs[0].num_classes) for net in extra]
    summary = (f"# Depth: from 20 to 1000+ layers (paper Table 6, §4.2)\n\n{_setup(recipe, seeds, command)}"
               + (f"- opt-in deep nets ({', '.join(n.label for n in extra)}): {deep_steps} steps of batch {batch}, "
                  f"seed {seeds[0]}, lr 0.01 (warm-up) for {short.warmup_steps} of those steps, then "
                  f"{recipe.learning_rate:g}; "
                  "their train error is over those steps only\n"
                  if extra else "")
               + "- time / step: median wall time of a training step after the first "
               "two (which compile), on this machine while other jobs may share it\n"
               "- loss = cross-entropy + L2 penalty (weight decay / 2 · Σ‖W‖² over conv and dense kernels); the "
               "claims read the cross-entropy\n\n"
               f"{_error_table(groups, columns)}\n## Claims\n\n" + "\n".join(c.line() for c in claims) + "\n")
    _write(out_dir, summary, runs)
    return claims


def trains_claim(label: str, cross_entropy: Sequence[float] | None, classes: int) -> Claim:
    """``label`` trains without diverging: its per-step ``cross_entropy``
    (``None``: the loss became NaN) is lower over the last fifth of the steps
    than over the first fifth, and lower than a uniform guess's, ln ``classes``
    (a net whose huge initial loss falls only to chance has not trained)."""
    guess = math.log(classes)
    first, last = _mean_ends(cross_entropy) if cross_entropy is not None else (math.nan, math.nan)
    holds = last < min(first, guess)
    return Claim(f"{label} trains without diverging (finite loss; cross-entropy of the last fifth of the steps below "
                 f"the first fifth's and below ln {classes} = {guess:.3f}, a uniform guess's)", holds, (holds,), first,
                 last, unit="")


def _ends(values: Sequence[float]) -> str:
    return f"{values[0]:.3g} → {values[-1]:.3g}"


def _penalty(run: RunRecord) -> list[float]:
    """The weight-decay term of each logged step: loss minus cross-entropy."""
    return [loss - xent for loss, xent in zip(run.iterations["loss"], run.iterations["cross_entropy"], strict=True)]


def _largest_kernel(run: RunRecord) -> str:
    """The conv / dense kernel with the largest share of the final model's
    L2 penalty (sum of squares), e.g. ``"conv1_conv (83 %)"``."""
    model = keras.models.load_model(run.final_model, compile=False)
    squares = {layer.name: float(np.sum(np.square(keras.ops.convert_to_numpy(layer.kernel))))
               for layer in training.decayed_layers(model)}
    keras.backend.clear_session()
    name = max(squares, key=squares.__getitem__)
    return f"{name} ({100 * squares[name] / sum(squares.values()):.0f} %)"


def _mean_ends(values: Sequence[float]) -> tuple[float, float]:
    """Mean of the first and of the last fifth of ``values`` (at least one value each)."""
    n = max(1, len(values) // 5)
    return float(np.mean(values[:n])), float(np.mean(values[-n:]))


def response_stds(model: keras.Model, images: np.ndarray, batch_size: int = 128) -> dict[str, float]:
    """Fig. 7: for each 3x3 layer in network order, the std of its response
    after BN and before the nonlinearity / addition (layers ``conv1_bn``,
    ``conv<s>_block<b>_{1,2}_bn``): per-channel std over images and
    positions, averaged over channels; keyed by BN layer name."""
    names = [layer.name for layer in model.layers if _RESPONSE_LAYER.match(layer.name)]
    if not names:
        raise ValueError(f"`model` {model.name!r} has no 3x3-layer BN outputs (conv1_bn, conv*_block*_1/2_bn); "
                         "Fig. 7 needs a basic-block CIFAR net")
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in names])
    outputs = probe.predict(images, batch_size=batch_size, verbose=0)
    return {name: float(np.std(out, axis=(0, 1, 2)).mean()) for name, out in zip(names, outputs, strict=True)}


def responses(recipe: TrainConfig, depths: Sequence[int], seed: int, out_dir: str | Path, work_dir: str | Path,
              examples: int = 500, shortcut: str | None = None, command: str = "") -> list[Claim]:
    """Fig. 7: train plain and residual nets of each depth (seed ``seed``),
    then measure :func:`response_stds` on the first ``examples`` test images.

    Writes ``responses.png``, ``responses.csv`` (net, layer index, layer,
    std), ``results.csv`` (the training runs' epochs) and ``summary.md``
    (mean std per net; claims: ResNets respond less than their plain
    counterparts, and the deeper ResNet less than the shallower). Returns
    the claims.
    """
    nets = [Net(f"resnet{d}", plain, shortcut) for plain in (True, False) for d in sorted(depths)]
    runs = [train(net, recipe, seed, work_dir) for net in nets]
    images, _ = datasets.load_arrays(recipe.dataset, "test", limit=examples, data_dir=recipe.data_dir)
    stds: dict[str, dict[str, float]] = {}
    for run in runs:
        stds[run.net.label] = response_stds(keras.models.load_model(run.final_model, compile=False), images)
        keras.backend.clear_session()
    means = {label: float(np.mean(list(values.values()))) for label, values in stds.items()}
    claims = [compare(f"{res.label} mean response std < {plain.label}", [means[res.label]], [means[plain.label]],
                      operator.lt, unit="")
              for plain, res in zip(nets[:len(depths)], nets[len(depths):], strict=True)]
    residual = nets[len(depths):]
    if len(residual) > 1:
        claims.append(compare(f"{residual[-1].label} mean response std < {residual[0].label}",
                              [means[residual[-1].label]], [means[residual[0].label]], operator.lt, unit=""))
    table = report.markdown_table(["net", "3x3 layers", "mean std", "max std"],
                                  [[label, len(v), f"{means[label]:.3f}", f"{max(v.values()):.3f}"]
                                   for label, v in stds.items()])
    summary = (f"# Layer responses: plain vs residual (paper Fig. 7)\n\n{_setup(recipe, [seed], command)}"
               f"- std of each 3x3 layer's output after BN, before ReLU / addition, on {len(images)} test images "
               "(per-channel std over images and positions, averaged over channels)\n\n"
               f"![responses](responses.png)\n\n{table}\n## Claims\n\n" + "\n".join(c.line() for c in claims) + "\n")
    title = f"{recipe.dataset}, {recipe.epochs} epochs, width x{recipe.width_multiplier:g}, seed {seed}"

    def figure(tmp: Path) -> None:
        plots.layer_responses({label: list(v.values()) for label, v in stds.items()}, tmp / "responses.png", title)
        report.write_csv(tmp / "responses.csv", ("net", "layer_index", "layer", "std"),
                         [[label, i + 1, name, f"{v:.6g}"] for label, values in stds.items()
                          for i, (name, v) in enumerate(values.items())])

    _write(out_dir, summary, runs, figure)
    return claims
