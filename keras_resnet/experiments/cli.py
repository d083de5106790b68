"""Command line: ``python -m keras_resnet.experiments [--study ...] [--flags]``.

Reproduces the paper's central experiments on real data (default: the
embedded Fashion-MNIST), each into ``--out_dir``:

* ``--study=degradation`` (default; Fig. 6): plain-20/56 and ResNet-20/56
  with one recipe and seed; ``curves.png``, ``results.csv``, ``summary.md``.
* ``--study=shortcuts`` (Table 3): ResNet-20 with shortcut options A, B, C.
* ``--study=depth`` (Table 6, §4.2): ResNet-20 ... 110, opt-in
  ``--deep_models=resnet1202,preact_resnet164,preact_resnet1001`` for
  ``--deep_steps`` steps.
* ``--study=responses`` (Fig. 7): std of the 3x3 layers' responses, plain
  vs residual; ``responses.png``.

Training runs live in ``--work_dir`` and are reused when rerun with the same
settings, so e.g. seeds can train in parallel processes and a last call
with all ``--seeds`` writes the combined outputs. The defaults are
:data:`keras_resnet.experiments.design.RECIPE` (width x0.5, the first 5,000
training images, 4 epochs, 40 warm-up steps at lr 0.01 then lr 0.1
constant) and seed 0.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

from absl import app, flags

from keras_resnet.experiments.design import RECIPE
from keras_resnet.flagtypes import define_list
from keras_resnet.specs import SHORTCUTS, resolve_spec
from keras_resnet.training.config import LR_SCHEDULES, TrainConfig

if TYPE_CHECKING:
    from keras_resnet.experiments.studies import Claim

STUDIES = ("degradation", "shortcuts", "depth", "responses")
DEFAULT_DEPTHS = {"degradation": (20, 56), "shortcuts": (20,), "depth": (20, 32, 44, 56, 110),
                  "responses": (20, 56)}
_BASE = os.path.join(tempfile.gettempdir(), "keras_resnet", "experiments")


def _model_name(name: str) -> str:
    resolve_spec(name)  # ValueError for a net that does not exist
    return name


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Define the experiment flags in ``fv``."""
    r = RECIPE
    flags.DEFINE_enum("study", "degradation", list(STUDIES), "Which experiment: degradation (Fig. 6), shortcuts "
                      "(Table 3), depth (Table 6), responses (Fig. 7).", flag_values=fv)
    define_list("depths", None, int, "CIFAR depths 6n+2; default per study: degradation and responses 20,56; "
                "shortcuts 20 (first one used); depth 20,32,44,56,110.", flag_values=fv)
    define_list("seeds", "0", int, "Seeds; every net trains once per seed.", flag_values=fv)
    flags.DEFINE_float("width_multiplier", r.width_multiplier, "Scales the 16/32/64 stage widths.",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_string("dataset", r.dataset, "fashion_mnist (embedded), a tensorflow-datasets name or an "
                        "image folder (see keras_resnet.datasets.load).", flag_values=fv)
    flags.DEFINE_string("data_dir", r.data_dir, "Data folder (see keras_resnet.datasets.load).",
                        flag_values=fv)
    flags.DEFINE_integer("train_examples", r.train_examples, "Train on the first N training images (0: all).",
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("eval_examples", r.eval_examples, "Test error on the first N test images (0: all).",
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("epochs", r.epochs, "Epochs per run.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("batch_size", r.global_batch_size, "Mini-batch size (paper: 128).", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_float("learning_rate", r.learning_rate, "Initial learning rate (paper: 0.1).",
                       flag_values=fv)
    flags.DEFINE_enum("lr_schedule", r.lr_schedule, list(LR_SCHEDULES), "constant; step: /10 at "
                      "--lr_decay_epochs (default 50 % and 75 % of training, §4.2); cosine.", flag_values=fv)
    define_list("lr_decay_epochs", None, float, "Epochs of the step schedule's /10 decays, e.g. 6,9.",
                flag_values=fv)
    flags.DEFINE_integer("warmup_steps", r.warmup_steps, "Steps at lr 0.01 first (§4.2, ResNet-110).",
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_enum("shortcut", None, list(SHORTCUTS), "Shortcut option of the ResNets (default A, §4.2).",
                      flag_values=fv)
    flags.DEFINE_list("shortcuts", list(SHORTCUTS), "Options compared by --study=shortcuts.", flag_values=fv)
    define_list("deep_models", [], _model_name, "--study=depth: also train these for --deep_steps steps, e.g. "
                "resnet1202,preact_resnet164,preact_resnet1001.", flag_values=fv, kind="model names")
    flags.DEFINE_integer("deep_steps", 20, "Training steps of each --deep_models net.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_integer("deep_batch_size", None, "Mini-batch of the --deep_models nets (default --batch_size; "
                         "a smaller one bounds ResNet-1202's memory).", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("response_examples", 500, "--study=responses: test images the stds are measured on.",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_bool("jit_compile", r.jit_compile, "Compile training steps with XLA.", flag_values=fv)
    flags.DEFINE_string("out_dir", None, "Output folder (replaced atomically); default "
                        "<tmp>/keras_resnet/experiments/<study>.", flag_values=fv)
    flags.DEFINE_string("work_dir", None, "Folder of the training runs (reused when rerun with the same "
                        "settings); default <tmp>/keras_resnet/experiments/runs.", flag_values=fv)


def recipe_from_flags(fv: flags.FlagValues = flags.FLAGS) -> TrainConfig:
    """The studies' recipe (a :class:`~keras_resnet.training.TrainConfig` template) the flags describe."""
    return dataclasses.replace(
        RECIPE, dataset=fv.dataset, data_dir=fv.data_dir, train_examples=fv.train_examples or None,
        eval_examples=fv.eval_examples or None, epochs=fv.epochs, global_batch_size=fv.batch_size,
        learning_rate=fv.learning_rate, lr_schedule=fv.lr_schedule,
        lr_decay_epochs=tuple(fv.lr_decay_epochs) if fv.lr_decay_epochs else None, warmup_steps=fv.warmup_steps,
        width_multiplier=fv.width_multiplier, jit_compile=fv.jit_compile)


def output_dir(fv: flags.FlagValues = flags.FLAGS) -> str:
    """``--out_dir``, by default ``<tmp>/keras_resnet/experiments/<study>``."""
    return fv.out_dir or os.path.join(_BASE, fv.study)


def run_study(fv: flags.FlagValues = flags.FLAGS, command: str = "") -> list[Claim]:
    """Run the study the flags name; returns its claims."""
    study = fv.study
    depths = fv.depths or list(DEFAULT_DEPTHS[study])
    seeds = fv.seeds
    out_dir = output_dir(fv)
    work_dir = fv.work_dir or os.path.join(_BASE, "runs")
    try:
        recipe = recipe_from_flags(fv)
    except ValueError as err:
        raise app.UsageError(str(err)) from None
    from keras_resnet.experiments import studies  # TensorFlow: only once the flags are good

    if study == "degradation":
        return studies.degradation(recipe, depths, seeds, out_dir, work_dir, fv.shortcut, command)
    if study == "shortcuts":
        unknown = set(fv.shortcuts) - set(SHORTCUTS)
        if unknown:
            raise app.UsageError(f"--shortcuts must be among {SHORTCUTS}; received {','.join(fv.shortcuts)}")
        return studies.shortcuts(recipe, depths[0], fv.shortcuts, seeds, out_dir, work_dir, command)
    if study == "depth":
        return studies.depth(recipe, depths, seeds, out_dir, work_dir, fv.deep_models, fv.deep_steps,
                             fv.shortcut, command, fv.deep_batch_size)
    return studies.responses(recipe, depths, seeds[0], out_dir, work_dir, fv.response_examples, fv.shortcut,
                             command)


def main(argv: Sequence[str]) -> None:
    """Run the study the flags name, then print its claim lines and output folder."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    command = " ".join(["python -m keras_resnet.experiments", shlex.join(sys.argv[1:])]).strip()
    claims = run_study(command=command)
    print("\n".join(c.line() for c in claims))
    print(f"outputs: {output_dir()}", flush=True)
