"""``python -m keras_resnet.convert``: a torchvision or timm checkpoint to a Keras weights file.

For example, torchvision's ResNet-50 ``IMAGENET1K_V2`` file::

    python -m keras_resnet.convert resnet50-11ad3fa6.pth --model resnet50 --variant v1.5 \\
        --output resnet50_v1.5.weights.h5

then ``kr.ResNet50(variant="v1.5", weights="resnet50_v1.5.weights.h5")`` on any
Keras backend (a ``.keras`` output loads with ``keras.models.load_model``).
The checkpoint's layout is checked tensor by tensor against the requested net
(:mod:`keras_resnet.checkpoints`). Flags are checked before any net is built
(this module imports Keras only then): bad flags exit with status 2, a
checkpoint that does not fit with status 1, each with one line. The output is
written to a temporary file renamed into place, so a failed run leaves nothing
behind.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from keras_resnet import checkpoints
from keras_resnet.specs import IMAGENET_DEPTHS, SPECS, VARIANTS, variant_name

PROG = "python -m keras_resnet.convert"
MODELS = tuple(f"resnet{depth}" for depth in IMAGENET_DEPTHS)
OUTPUTS = (".weights.h5", ".keras")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage + message
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help=f"torchvision/timm ResNet state dict ({', '.join(checkpoints.SUFFIXES)})")
    parser.add_argument("--model", required=True, choices=MODELS, help="Network the checkpoint is for.")
    parser.add_argument("--variant", required=True, choices=VARIANTS,
                        help="Layout: v1 (ResNet-18/34), v1.5 (torchvision/timm ResNet-50+), d (timm resnet*d).")
    parser.add_argument("--output", required=True, help=f"File to write: {' or '.join(OUTPUTS)}.")
    parser.add_argument("--include_top", action=argparse.BooleanOptionalAction, default=True,
                        help="Keep the classifier (fc.* -> predictions); --no-include_top drops it.")
    return parser


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the flags before anything is built; exits with status 2 and one line on bad input."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not os.path.isfile(args.checkpoint):
        parser.error(f"CHECKPOINT file not found: {args.checkpoint!r}")
    if not checkpoints.is_checkpoint(args.checkpoint):
        parser.error(f"CHECKPOINT must end in {', '.join(checkpoints.SUFFIXES)}; received {args.checkpoint!r}")
    if not args.output.endswith(OUTPUTS):
        parser.error(f"--output must end in {' or '.join(OUTPUTS)}; received --output={args.output!r}")
    existing = os.path.dirname(os.path.abspath(args.output))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if os.path.isdir(args.output) or not os.path.isdir(existing) or not os.access(existing, os.W_OK):
        parser.error(f"--output cannot be written: {args.output!r} (a folder, or {existing!r} is not a "
                     "writable folder)")
    try:
        checkpoints.check_readable(args.checkpoint)
    except ImportError as err:
        parser.error(str(err))
    return args


def convert(checkpoint: str, model: str, variant: str, output: str, include_top: bool = True) -> None:
    """Build ``model`` in ``variant``, load ``checkpoint`` into it and write ``output`` atomically.

    Raises:
        ValueError: The checkpoint is unreadable or does not fit the net.
    """
    from keras_resnet.io import atomic_path
    from keras_resnet.models import get_model

    state = checkpoints.read(checkpoint)
    net = get_model(model, variant=variant, include_top=include_top, classes=checkpoints.classes(state) or 1000)
    avg_down = SPECS[variant_name(model, variant)].avg_down
    checkpoints.assign(net, state, include_top, avg_down, source=repr(checkpoint))
    with atomic_path(output) as tmp:
        if output.endswith(".keras"):
            net.save(tmp)
        else:
            net.save_weights(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = parse(argv)
    try:
        convert(args.checkpoint, args.model, args.variant, args.output, args.include_top)
    except (ValueError, OSError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
