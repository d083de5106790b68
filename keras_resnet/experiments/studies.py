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
import operator
import re
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from keras_resnet import datasets, training
from keras_resnet.experiments import outputs, plots
from keras_resnet.experiments.claims import Claim, compare, trains_claim
from keras_resnet.experiments.runs import Net, RunRecord, iter_runs, train
from keras_resnet.layers import load_model
from keras_resnet.training.config import TrainConfig

_RESPONSE_LAYER = re.compile(r"^conv\d+(_block\d+_[12])?_bn$")  # the 3x3 layers' BN of a basic-block net


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
    nets = [Net(f"resnet{d}", plain=plain, shortcut=shortcut) for plain in (True, False) for d in sorted(depths)]
    runs = list(iter_runs(nets, recipe, seeds, work_dir))
    groups = outputs.by_net(runs)
    plain = {d: Net(f"resnet{d}", plain=True, shortcut=shortcut) for d in (shallow, deep)}
    res = {d: Net(f"resnet{d}", plain=False, shortcut=shortcut) for d in (shallow, deep)}
    claims = [
        compare(f"{plain[deep].label} train error > {plain[shallow].label}", outputs.errors(groups, plain[deep]),
                outputs.errors(groups, plain[shallow]), operator.gt),
        compare(f"{res[deep].label} train error < {plain[deep].label}", outputs.errors(groups, res[deep]),
                outputs.errors(groups, plain[deep]), operator.lt),
        compare(f"{res[deep].label} train error <= {res[shallow].label}", outputs.errors(groups, res[deep]),
                outputs.errors(groups, res[shallow]), operator.le),
    ]
    iterations = recipe.epochs * runs[0].steps_per_epoch
    summary = (f"# Degradation: plain vs residual nets (paper Fig. 6)\n\n{outputs.setup(recipe, seeds, command)}"
               f"- {iterations} iterations per run; train error = last epoch, on augmented mini-batches "
               "while training (as in Fig. 6); test error = final model\n\n"
               f"![curves](curves.png)\n\n{outputs.error_table(groups)}\n## Claims\n\n"
               + "\n".join(c.line() for c in claims) + "\n")
    title = (f"{recipe.dataset}, {recipe.train_examples or 'all'} images, {iterations} iterations, "
             f"width x{recipe.width_multiplier:g}, mean of {len(seeds)} seed(s)")
    outputs.write_study(out_dir, summary, runs, lambda tmp: plots.training_curves(runs, tmp / "curves.png", title))
    return claims


def shortcuts(recipe: TrainConfig, depth: int, options: Sequence[str], seeds: Sequence[int], out_dir: str | Path,
              work_dir: str | Path, command: str = "") -> list[Claim]:
    """Table 3: ResNet-``depth`` with each shortcut option in ``options``.

    Writes ``summary.md`` (params, train / test error per option and the
    paper's ordering A > B > C in error, checked on test error) and
    ``results.csv``. Returns the claims.
    """
    nets = [Net(f"resnet{depth}", plain=False, shortcut=option) for option in options]
    runs = list(iter_runs(nets, recipe, seeds, work_dir))
    groups = outputs.by_net(runs)
    claims = [compare(f"{b.label} test error < {a.label}", outputs.errors(groups, b, "test_error"),
                      outputs.errors(groups, a, "test_error"), operator.lt)
              for a, b in zip(nets, nets[1:], strict=False)]
    summary = (f"# Shortcut options A / B / C (paper Table 3, §3.3)\n\n{outputs.setup(recipe, seeds, command)}"
               "- A: zero-padding shortcuts (parameter-free); B: projections where dimensions increase; "
               "C: all shortcuts are projections\n\n"
               f"{outputs.error_table(groups)}\n## Claims\n\n" + "\n".join(c.line() for c in claims) + "\n")
    outputs.write_study(out_dir, summary, runs)
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
    1001-layer pre-activation net the gradient at the first layers is large
    against their kernels' norm at initialisation, so the first steps grow
    those kernels by orders of magnitude (the stem conv most: it feeds only
    the first block's BN, so its scale does not change the function) and
    the L2 penalty with them, while the data loss falls.
    """
    nets = [Net(f"resnet{d}", plain=False, shortcut=shortcut) for d in sorted(depths)]
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
    groups = outputs.by_net(runs)
    columns = [("steps", lambda rs: str(len(rs[0].iterations["loss"]))),
               ("time / step (s)", lambda rs: f"{np.mean([r.seconds_per_step for r in rs]):.3f}"),
               ("cross-entropy first → last step", lambda rs: _ends(rs[0].iterations["cross_entropy"])),
               ("L2 penalty first → last step", lambda rs: _ends(_penalty(rs[0]))),
               ("largest share of the final L2", lambda rs: _largest_kernel(rs[0]))]
    claims = []
    if len(nets) > 1:
        claims.append(compare(f"{nets[-1].label} train error <= {nets[0].label}", outputs.errors(groups, nets[-1]),
                              outputs.errors(groups, nets[0]), operator.le))
    claims += [trains_claim(net.label, groups[net][0].iterations["cross_entropy"] if net in groups else None,
                            runs[0].num_classes) for net in extra]
    summary = (f"# Depth: from 20 to 1000+ layers (paper Table 6, §4.2)\n\n{outputs.setup(recipe, seeds, command)}"
               + (f"- opt-in deep nets ({', '.join(n.label for n in extra)}): {deep_steps} steps of batch {batch}, "
                  f"seed {seeds[0]}, lr 0.01 (warm-up) for {short.warmup_steps} of those steps, then "
                  f"{recipe.learning_rate:g}; "
                  "their train error is over those steps only\n"
                  if extra else "")
               + "- time / step: median wall time of a training step after the first "
               "two (which compile), on this machine while other jobs may share it\n"
               "- loss = cross-entropy + L2 penalty (weight decay / 2 · Σ‖W‖² over conv and dense kernels); the "
               "claims read the cross-entropy\n\n"
               f"{outputs.error_table(groups, columns)}\n## Claims\n\n" + "\n".join(c.line() for c in claims) + "\n")
    outputs.write_study(out_dir, summary, runs)
    return claims


def _ends(values: Sequence[float]) -> str:
    return f"{values[0]:.3g} → {values[-1]:.3g}"


def _penalty(run: RunRecord) -> list[float]:
    """The weight-decay term of each logged step: loss minus cross-entropy."""
    return [loss - xent for loss, xent in zip(run.iterations["loss"], run.iterations["cross_entropy"], strict=True)]


def _largest_kernel(run: RunRecord) -> str:
    """The conv / dense kernel with the largest share of the final model's
    L2 penalty (sum of squares), as ``"<layer> (<share> %)"``."""
    model = load_model(run.final_model, compile=False)
    squares = {layer.name: float(np.sum(np.square(keras.ops.convert_to_numpy(layer.kernel))))
               for layer in training.decayed_layers(model)}
    keras.backend.clear_session()
    name = max(squares, key=squares.__getitem__)
    return f"{name} ({100 * squares[name] / sum(squares.values()):.0f} %)"


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
    responses = probe.predict(images, batch_size=batch_size, verbose=0)
    return {name: float(np.std(out, axis=(0, 1, 2)).mean()) for name, out in zip(names, responses, strict=True)}


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
    nets = [Net(f"resnet{d}", plain=plain, shortcut=shortcut) for plain in (True, False) for d in sorted(depths)]
    runs = [train(net, recipe, seed, work_dir) for net in nets]
    images, _ = datasets.load_arrays(recipe.dataset, "test", limit=examples, data_dir=recipe.data_dir)
    stds: dict[str, dict[str, float]] = {}
    for run in runs:
        stds[run.net.label] = response_stds(load_model(run.final_model, compile=False), images)
        keras.backend.clear_session()
    means = {label: float(np.mean(list(values.values()))) for label, values in stds.items()}
    claims = [compare(f"{res.label} mean response std < {plain.label}", [means[res.label]], [means[plain.label]],
                      operator.lt, unit="")
              for plain, res in zip(nets[:len(depths)], nets[len(depths):], strict=True)]
    residual = nets[len(depths):]
    if len(residual) > 1:
        claims.append(compare(f"{residual[-1].label} mean response std < {residual[0].label}",
                              [means[residual[-1].label]], [means[residual[0].label]], operator.lt, unit=""))
    table = outputs.markdown_table(["net", "3x3 layers", "mean std", "max std"],
                                  [[label, len(v), f"{means[label]:.3f}", f"{max(v.values()):.3f}"]
                                   for label, v in stds.items()])
    summary = (f"# Layer responses: plain vs residual (paper Fig. 7)\n\n{outputs.setup(recipe, [seed], command)}"
               f"- std of each 3x3 layer's output after BN, before ReLU / addition, on {len(images)} test images "
               "(per-channel std over images and positions, averaged over channels)\n\n"
               f"![responses](responses.png)\n\n{table}\n## Claims\n\n" + "\n".join(c.line() for c in claims) + "\n")
    title = f"{recipe.dataset}, {recipe.epochs} epochs, width x{recipe.width_multiplier:g}, seed {seed}"

    def figure(tmp: Path) -> None:
        plots.layer_responses({label: list(v.values()) for label, v in stds.items()}, tmp / "responses.png", title)
        outputs.write_csv(tmp / "responses.csv", ("net", "layer_index", "layer", "std"),
                         [[label, i + 1, name, f"{v:.6g}"] for label, values in stds.items()
                          for i, (name, v) in enumerate(values.items())])

    outputs.write_study(out_dir, summary, runs, figure)
    return claims
