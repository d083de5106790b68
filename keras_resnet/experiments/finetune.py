"""The fine-tuning recipe against the paper's on a transfer task:
``python -m keras_resnet.experiments.finetune --out_dir DIR [--work_dir WORK] [--seeds 0,1,2]``.

The task, as a user with a few photos meets it: a CIFAR ResNet-20 trained
(paper recipe, seed 0) on Fashion-MNIST classes 0-4 is fine-tuned on 100
training images of each of classes 5-9 saved as a photo folder (PNG or JPEG,
grey or RGB, resized with Pillow to squares of 20-300 px), and tested on all
Fashion-MNIST test images of classes 5-9 (``test/``, lossless 28x28 PNGs;
the first 400 of each class by default, to keep the per-epoch validation cheap).
Each recipe gets the same budget (a head phase, then the top three stages
fine-tuned, at the same batch size) and every seed; only ``--recipe``
differs. The final model is scored (not ``best.keras``, which the test split
selects). The photos and runs live in ``WORK``; runs that finished (their
``metrics.json``) are reused.

Writes ``DIR/results.csv`` (one row per recipe and seed) and
``DIR/summary.md`` (mean ± sample standard deviation over the seeds).
"""

from __future__ import annotations

import csv
import os
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from absl import app, flags

from keras_resnet import cpu, quiet
from keras_resnet.flagtypes import define_list, flags_parser

SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
COMPARED = ("paper", "finetune")
PHOTO_SIDES = (20, 300)  # Pillow resizes each training photo to a random square side in this range
COLUMNS = ("recipe", "seed", "accuracy", "cross_entropy", "macro_f1")


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Define the study's flags in ``fv``."""
    flags.DEFINE_string("out_dir", None, "Output folder of results.csv and summary.md.", flag_values=fv)
    flags.DEFINE_string("work_dir", os.path.join(tempfile.gettempdir(), "keras_resnet", "finetune"),
                        "Folder of the photo folder and the training runs (reused when rerun).", flag_values=fv)
    define_list("seeds", [0, 1, 2], int, "Fine-tuning seeds.", flag_values=fv)
    flags.DEFINE_integer("per_class", 100, "Training photos per target class.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("test_per_class", 400, "Test images per target class (the first N of the test split).",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("source_examples", 8000, "Training images of the source task (classes 0-4).",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("source_epochs", 3, "Epochs of the source task.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("head_epochs", 3, "Epochs of the new head on the frozen backbone.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_integer("fine_tune_epochs", 6, "Epochs fine-tuning the top three stages.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_integer("batch_size", 32, "Global batch size of the fine-tuning runs.", lower_bound=1,
                         flag_values=fv)
    flags.mark_flag_as_required("out_dir", flag_values=fv)


def write_photo_folder(root: Path, per_class: int, test_per_class: int, seed: int = 0) -> Path:
    """``root/train/<class>/`` (``per_class`` photos of mixed size and format
    per target class) and ``root/test/<class>/`` (the first ``test_per_class``
    test images of each target class, as 28x28 PNGs); kept if ``root`` exists."""
    from PIL import Image

    from keras_resnet import datasets
    from keras_resnet.io import atomic_dir

    if root.is_dir():
        return root
    source = datasets.load("fashion_mnist")
    names = [source.info.class_names[c] for c in TARGET_CLASSES]
    rng = np.random.default_rng(seed)
    with atomic_dir(root) as tmp:
        for split, limit in (("train", per_class), ("test", test_per_class)):
            ds, _ = datasets.examples(source, split, classes=TARGET_CLASSES, examples_per_class=limit)
            for index, (image, label) in enumerate(ds.as_numpy_iterator()):
                folder = Path(tmp, split, names[label])
                folder.mkdir(parents=True, exist_ok=True)
                photo = Image.fromarray(image[..., 0])
                if split == "test":
                    photo.save(folder / f"{index:05d}.png")
                    continue
                side = int(rng.integers(PHOTO_SIDES[0], PHOTO_SIDES[1] + 1))
                photo = photo.resize((side, side), Image.Resampling.BICUBIC)
                if rng.random() < 0.5:
                    photo = photo.convert("RGB")
                if rng.random() < 0.5:
                    photo.save(folder / f"{index:05d}.png")
                else:
                    photo.save(folder / f"{index:05d}.jpg", quality=int(rng.integers(75, 96)))
    return root


def _macro_f1(per_class: dict[str, list]) -> float:
    return float(np.mean([0.0 if f is None else f for f in per_class["f1"]]))


def _run(out: Path, **settings: object) -> dict:
    """A finished run's ``metrics.json``, training it first if needed."""
    import json

    from keras_resnet import training

    metrics = out / "metrics.json"
    if not metrics.exists():
        training.fit(model_dir=str(out), **settings)
    return json.loads(metrics.read_text())


def run_study(work_dir: Path, seeds: Sequence[int], per_class: int, test_per_class: int, source_examples: int,
              source_epochs: int, head_epochs: int, fine_tune_epochs: int, batch_size: int) -> list[dict]:
    """Train the source net, then each recipe on each seed; the rows of ``results.csv``."""
    photos = write_photo_folder(work_dir / "photos", per_class, test_per_class)
    source = work_dir / "runs" / "source"
    _run(source, model="resnet20", classes=SOURCE_CLASSES, train_examples=source_examples, epochs=source_epochs)
    rows = []
    for recipe in COMPARED:
        for seed in seeds:
            metrics = _run(work_dir / "runs" / f"{recipe}_seed{seed}", recipe=recipe, model="resnet20",
                           dataset=str(photos), init_weights=str(source / "final.keras"), epochs=head_epochs,
                           fine_tune_epochs=fine_tune_epochs, fine_tune_stages=3, global_batch_size=batch_size,
                           seed=seed)
            rows.append({"recipe": recipe, "seed": seed, "accuracy": metrics["accuracy"],
                         "cross_entropy": metrics["cross_entropy"], "macro_f1": _macro_f1(metrics["per_class"])})
    return rows


def summary(rows: list[dict], command: str) -> str:
    """Markdown: mean ± sample standard deviation of each recipe over its seeds, and the command."""
    lines = ["| recipe | seeds | test accuracy | macro F1 | cross-entropy |", "|---|---|---|---|---|"]
    for recipe in COMPARED:
        mine = [r for r in rows if r["recipe"] == recipe]
        cells = []
        for key in ("accuracy", "macro_f1", "cross_entropy"):
            values = np.array([r[key] for r in mine])
            std = values.std(ddof=1) if len(values) > 1 else 0.0
            cells.append(f"{values.mean():.4f} ± {std:.4f}")
        lines.append(f"| {recipe} | {','.join(str(r['seed']) for r in mine)} | {' | '.join(cells)} |")
    return "\n".join([*lines, "", f"Command: `{command}`", ""])


def main(argv: Sequence[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    fv = flags.FLAGS
    out_dir = Path(fv.out_dir)
    with quiet.native_logs_silenced():
        rows = run_study(Path(fv.work_dir), fv.seeds, fv.per_class, fv.test_per_class, fv.source_examples,
                         fv.source_epochs, fv.head_epochs, fv.fine_tune_epochs, fv.batch_size)
    from keras_resnet.io import atomic_path

    with atomic_path(out_dir / "results.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    command = shlex.join(["python", "-m", "keras_resnet.experiments.finetune", *sys.argv[1:]])
    text = summary(rows, command)
    with atomic_path(out_dir / "summary.md") as tmp:
        Path(tmp).write_text(text)
    print(text)
    print(f"results: {out_dir / 'results.csv'}\nsummary: {out_dir / 'summary.md'}")
    return 0


if __name__ == "__main__":
    cpu.prefer_onednn()  # before TensorFlow is imported: see keras_resnet.cpu
    define_flags()
    app.run(main, flags_parser=flags_parser("python -m keras_resnet.experiments.finetune"))
