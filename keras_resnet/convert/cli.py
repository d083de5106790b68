"""Command line: ``python -m keras_resnet.convert CHECKPOINT --model=... --variant=... --output=...``.

For example, torchvision's ResNet-50 ``IMAGENET1K_V2`` file::

    python -m keras_resnet.convert resnet50-11ad3fa6.pth --model=resnet50 --variant=v1.5 \\
        --output=resnet50_v1.5.weights.h5

then ``kr.ResNet50(variant="v1.5", weights="resnet50_v1.5.weights.h5")`` on any
Keras backend (a ``.keras`` output loads with ``keras.models.load_model``).
A thin shell over :func:`keras_resnet.convert.convert`. The flags and files
are checked before any net is built (Keras is imported only then): bad input
exits with status 2, a checkpoint that does not fit with status 1, each with
one line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from absl import flags

from keras_resnet import checkpoints
from keras_resnet.convert.conversion import MODELS, OUTPUTS, convert
from keras_resnet.flagtypes import usage_error
from keras_resnet.specs import VARIANTS

PROG = "python -m keras_resnet.convert"


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Define the conversion flags in ``fv`` (the checkpoint is the one positional argument)."""
    flags.DEFINE_enum("model", None, list(MODELS), "Network the checkpoint is for.", required=True, flag_values=fv)
    flags.DEFINE_enum("variant", None, list(VARIANTS), "Layout: v1 (ResNet-18/34), v1.5 (torchvision/timm "
                      "ResNet-50+), d (timm resnet*d).", required=True, flag_values=fv)
    flags.DEFINE_string("output", None, f"File to write: {' or '.join(OUTPUTS)}.", required=True, flag_values=fv)
    flags.DEFINE_bool("include_top", True, "Keep the classifier (fc.* -> predictions); --noinclude_top drops it.",
                      flag_values=fv)


def checked_checkpoint(argv: Sequence[str], fv: flags.FlagValues = flags.FLAGS) -> str:
    """The checkpoint path of the positional arguments ``argv`` (``argv[0]`` is the program), once it and
    ``--output`` are usable; otherwise exits through :func:`~keras_resnet.flagtypes.usage_error`."""
    if len(argv) != 2:
        usage_error(PROG, f"expected one CHECKPOINT ({', '.join(checkpoints.SUFFIXES)}); received {argv[1:]}")
    checkpoint, output = argv[1], fv.output
    if not os.path.isfile(checkpoint):
        usage_error(PROG, f"CHECKPOINT file not found: {checkpoint!r}")
    if not checkpoints.is_checkpoint(checkpoint):
        usage_error(PROG, f"CHECKPOINT must end in {', '.join(checkpoints.SUFFIXES)}; received {checkpoint!r}")
    if not output.endswith(OUTPUTS):
        usage_error(PROG, f"--output must end in {' or '.join(OUTPUTS)}; received --output={output!r}")
    existing = os.path.dirname(os.path.abspath(output))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if os.path.isdir(output) or not os.path.isdir(existing) or not os.access(existing, os.W_OK):
        usage_error(PROG, f"--output cannot be written: {output!r} (a folder, or {existing!r} is not a "
                    "writable folder)")
    try:
        checkpoints.check_readable(checkpoint)
    except ImportError as err:
        usage_error(PROG, str(err))
    return checkpoint


def main(argv: Sequence[str], fv: flags.FlagValues = flags.FLAGS) -> int:
    """Convert the checkpoint of ``argv`` as the parsed flags ``fv`` say; returns the exit status."""
    checkpoint = checked_checkpoint(argv, fv)
    try:
        convert(checkpoint, fv.model, fv.variant, fv.output, include_top=fv.include_top)
    except (ValueError, OSError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {fv.output}")
    return 0
