"""Command line: ``python -m keras_resnet.evaluate --model PATH [--dataset NAME] [--flags]`` (``--help`` lists them).

A thin shell over :func:`keras_resnet.evaluate.evaluate`: prints top-1 and
top-5 accuracy, the loss and (``--per_class``) the per-class report, and
writes every result as JSON (``--output``) and the confusion matrix as a PNG
(``--confusion_matrix``). Flags are checked before TensorFlow is imported: a
bad one exits with status 2 and one line naming it, a model or dataset that
cannot be evaluated with status 1 and one line.

The evaluation, an inference-only process, sets
``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1`` (:func:`default_frozen_weights`);
``--nofold_batchnorm`` and ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=0`` give the plain path.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence

from absl import flags

from keras_resnet import cpu, datasets
from keras_resnet.evaluate.evaluation import evaluate, report
from keras_resnet.flagtypes import define_list, usage_error
from keras_resnet.io import write_json

PROG = "python -m keras_resnet.evaluate"
FROZEN_WEIGHTS_ENV = "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Define the evaluation flags in ``fv``."""
    flags.DEFINE_string("model", None, "Path of a .keras model trained with python -m keras_resnet.training.",
                        flag_values=fv)
    flags.DEFINE_string("dataset", "fashion_mnist", "fashion_mnist, a tensorflow-datasets name or a folder of "
                        "class sub-folders.", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Folder of the Fashion-MNIST IDX files or tensorflow-datasets' data_dir.",
                        flag_values=fv)
    flags.DEFINE_enum("split", "test", list(datasets.SPLITS), "Split to evaluate.", flag_values=fv)
    flags.DEFINE_integer("batch_size", 256, "Batch size.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("limit", None, "Evaluate the first N images only.", lower_bound=1, flag_values=fv)
    define_list("classes", None, int, "Labels the model was trained on (e.g. 5,6,7,8,9).", flag_values=fv)
    flags.DEFINE_bool("per_class", True, "Print per-class precision, recall, F1 and the confusion matrix "
                      "(always in --output).", flag_values=fv)
    flags.DEFINE_string("confusion_matrix", None, "Write the confusion matrix as a PNG here.", flag_values=fv)
    flags.DEFINE_bool("fold_batchnorm", True, "Fold batch norm into the preceding convolutions before predicting "
                      "(same results to float32 rounding, faster); --nofold_batchnorm predicts with the model "
                      "as saved.", flag_values=fv)
    flags.DEFINE_string("output", None, "Write all results as JSON here.", flag_values=fv)
    flags.mark_flag_as_required("model", flag_values=fv)


def default_frozen_weights(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set ``TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1`` unless the variable is already set (a user's
    ``=0`` wins); returns whether it set it.

    With it, oneDNN reorders each convolution's weights once and keeps them,
    which is only correct while no weight changes. That holds here: the
    evaluation CLI is a process that loads a model and only predicts. The
    variable is process-wide and must be set before TensorFlow builds kernels,
    so the CLI calls this before importing TensorFlow; no library function
    sets it, as a library cannot know that its process never trains.
    """
    if FROZEN_WEIGHTS_ENV in environ:
        return False
    environ[FROZEN_WEIGHTS_ENV] = "1"
    return True


def main(argv: Sequence[str]) -> int:
    """Evaluate the model the parsed flags name and print the report; returns the exit status."""
    if len(argv) > 1:
        usage_error(PROG, f"unexpected arguments: {' '.join(argv[1:])}")
    fv = flags.FLAGS
    default_frozen_weights()  # both before evaluate() imports TensorFlow
    cpu.prefer_onednn()
    try:
        result = evaluate(fv.model, dataset=fv.dataset, data_dir=fv.data_dir, split=fv.split,
                          batch_size=fv.batch_size, limit=fv.limit,
                          classes=None if fv.classes is None else tuple(fv.classes),
                          confusion_matrix=fv.confusion_matrix, fold_batchnorm=fv.fold_batchnorm)
    except (ValueError, FileNotFoundError, datasets.DatasetUnavailableError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(report(result, per_class=fv.per_class))
    if fv.output:
        write_json(fv.output, result)
    if fv.confusion_matrix:
        print(f"confusion matrix: {fv.confusion_matrix}")
    return 0
