"""Evaluate a saved model: top-1 and top-5 accuracy (the paper's ImageNet
metrics, Table 3/4), the cross-entropy loss, per-class precision, recall and
F1 with the confusion matrix (:mod:`keras_resnet.class_report`, as at the end
of a training run), optionally the confusion matrix as a PNG.

The model is a ``.keras`` file trained here (it takes raw RGB pixels; its
input size decides the evaluation resize/crop); the net's spec is read back
from the run's ``config.json`` beside it, when there is one, and so is the
evaluation transform of the pretrained weights it was fine-tuned from
(:class:`keras_resnet.transform.Transform`), which then resizes and crops the
images. By default the model is evaluated with batch norm folded into its
convolutions (:func:`keras_resnet.inference.optimize_for_inference`, the same
function to float32 rounding).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_resnet import datasets
from keras_resnet.class_report import confusion_matrix as count_confusion
from keras_resnet.class_report import format_report, per_class, predict
from keras_resnet.io import atomic_path
from keras_resnet.training.config import read_run_config
from keras_resnet.transform import Transform

EPSILON = 1e-7  # Keras' clip for cross-entropy


def _check_model_path(path: str) -> None:
    if not isinstance(path, str) or not path.endswith(".keras"):
        raise ValueError(f"`model` must be a path to a .keras file; received model={path!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"`model` file not found: {path!r}")


def metrics(probs: np.ndarray, labels: np.ndarray, top_k: int = 5) -> dict[str, Any]:
    """Top-1, top-k accuracy, mean cross-entropy, per-class precision, recall,
    F1 and support, and the confusion matrix (rows: true class, columns: predicted)."""
    num_classes = probs.shape[1]
    k = min(top_k, num_classes)
    ranked = np.argsort(-probs, axis=1, kind="stable")
    top1 = ranked[:, 0]
    confusion = count_confusion(labels, top1, num_classes)
    picked = np.clip(probs[np.arange(len(labels)), labels], EPSILON, 1.0)
    return {
        "accuracy": float(np.mean(top1 == labels)),
        f"top{k}": float(np.mean(np.any(ranked[:, :k] == labels[:, None], axis=1))),
        "loss": float(-np.mean(np.log(picked))),
        "examples": len(labels),
        "per_class": per_class(confusion),
        "confusion_matrix": confusion.tolist(),
    }


def save_confusion_png(confusion: np.ndarray, class_names: Sequence[str], path: str) -> None:
    """Row-normalized confusion matrix as a PNG (atomically written)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = np.asarray(confusion, np.float64)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(2 + 0.6 * n, 1.5 + 0.6 * n))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true", title="confusion matrix (row %)")
    ax.set_xticklabels(class_names, rotation=90)
    ax.set_yticklabels(class_names)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{100 * rates[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def evaluate(model: str, dataset: str = "fashion_mnist", data_dir: str | None = None, split: str = "test",
             batch_size: int = 256, limit: int | None = None, classes: Sequence[int] | None = None,
             confusion_matrix: str | None = None, fold_batchnorm: bool = True) -> dict[str, Any]:
    """Evaluate the ``.keras`` model at ``model`` on a dataset split.

    ``classes`` selects and renumbers labels as in training (a model trained
    with ``classes=(5, ..., 9)`` needs the same here). ``confusion_matrix``:
    write a PNG there. ``fold_batchnorm``: predict with
    :func:`keras_resnet.inference.optimize_for_inference`'s copy (batch norm
    folded into the convolutions before it; a model with nothing to fold, or
    not functional, is evaluated as it is). Returns :func:`metrics` plus ``class_names``,
    ``folded_batchnorms`` (how many were folded) and, for a model trained
    here, ``spec`` (the net, from the run's ``config.json``).
    """
    _check_model_path(model)
    if confusion_matrix is not None and not str(confusion_matrix).endswith(".png"):
        raise ValueError(f"`confusion_matrix` must be a .png path; received confusion_matrix={confusion_matrix!r}")
    from keras_resnet.inference import FoldedBatchNorm, foldable_pairs, optimize_for_inference
    from keras_resnet.layers import load_model

    net = load_model(model, compile=False)
    run = read_run_config(model)
    # A photo folder is split as its training run split it; its undecodable files are skipped, as in training.
    source = datasets.load(dataset, data_dir, validation_split=(run or {}).get("validation_split"))
    source = datasets.drop_undecodable(source)
    names = [source.info.class_names[c] for c in classes] if classes else list(source.info.class_names)
    if net.output_shape[-1] != len(names):
        raise ValueError(f"The model predicts {net.output_shape[-1]} classes but {dataset!r} has {len(names)}"
                         f"{' selected' if classes else ''}; pass the `classes` it was trained on")
    transform = Transform.from_dict(run["transform"]) if run and run.get("transform") else None
    data, _ = datasets.pipeline(source, split, training=False, batch_size=batch_size,
                                image_size=net.input_shape[1], classes=classes, limit=limit,
                                resize_crop=transform.resize_crop if transform else None)
    if fold_batchnorm and hasattr(net, "_nodes_by_depth") and foldable_pairs(net):  # functional models only
        net = optimize_for_inference(net)
    result = metrics(*predict(net, data))
    result["class_names"] = names
    result["folded_batchnorms"] = sum(isinstance(layer, FoldedBatchNorm) for layer in net.layers)
    if run and "spec" in run:
        result["spec"] = run["spec"]
    if confusion_matrix:
        save_confusion_png(np.asarray(result["confusion_matrix"]), names, confusion_matrix)
    return result


def report(result: dict[str, Any], per_class: bool) -> str:
    """Human-readable summary of :func:`evaluate`'s result."""
    top = next(k for k in result if k.startswith("top"))
    lines = [f"top-1 accuracy: {result['accuracy']:.4f}  {top[:3]}-{top[3:]}: {result[top]:.4f}  "
             f"loss: {result['loss']:.4f}  ({result['examples']} images)"]
    if per_class:
        lines.append(format_report(result))
    return "\n".join(lines)
