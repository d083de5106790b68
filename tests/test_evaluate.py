"""Tests for keras_resnet.evaluate: metrics, a saved model on real Fashion-MNIST, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_resnet import datasets, evaluate, training

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
CLASSES = (5, 7, 9)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> training.FitResult:
    """A tiny net trained on Fashion-MNIST classes 5, 7, 9 (sandal, sneaker, ankle boot)."""
    return training.fit(model="resnet8", width_multiplier=0.25, classes=CLASSES, train_examples=512,
                        eval_examples=300, global_batch_size=64, epochs=1,
                        model_dir=str(tmp_path_factory.mktemp("run")))


def test_metrics_of_known_predictions() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6]])
    labels = np.array([0, 0, 1, 2])
    result = evaluate.metrics(probs, labels)
    assert result["accuracy"] == 0.5 and result["top3"] == 1.0 and result["examples"] == 4
    assert result["loss"] == pytest.approx(-np.mean(np.log([0.7, 0.1, 0.4, 0.6])))
    assert result["confusion_matrix"] == [[1, 0, 1], [1, 0, 0], [0, 0, 1]]
    assert result["per_class_accuracy"] == [0.5, 0.0, 1.0]
    assert evaluate.metrics(probs, labels, top_k=2)["top2"] == 0.75


def test_evaluate_matches_training_and_draws_the_confusion_matrix(trained: training.FitResult,
                                                                  tmp_path: Path) -> None:
    png = tmp_path / "confusion.png"
    result = evaluate.evaluate(trained.final_model, classes=CLASSES, limit=300, batch_size=128,
                               confusion_matrix=str(png))
    assert result["examples"] == 300 and result["class_names"] == ["Sandal", "Sneaker", "Ankle boot"]
    assert result["spec"] == training.read_run_config(trained.final_model)["spec"]  # the run's net, read back
    assert result["spec"]["name"] == "resnet8" and result["spec"]["width_multiplier"] == 0.25
    assert result["accuracy"] == pytest.approx(trained.test["accuracy"], abs=1e-6)
    penalty = float(sum(keras.models.load_model(trained.final_model).losses))  # fit's loss adds weight decay
    assert result["loss"] + penalty == pytest.approx(trained.test["loss"], rel=1e-4)
    assert result["loss"] == pytest.approx(trained.test["cross_entropy"], rel=1e-4)  # fit's data-loss metric
    assert np.sum(result["confusion_matrix"]) == 300 and len(result["per_class_accuracy"]) == 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and os.listdir(tmp_path) == ["confusion.png"]
    report = evaluate.report(result, per_class=True)
    assert report.startswith("top-1 accuracy: ") and "Ankle boot: " in report
    with pytest.raises(ValueError, match="The model predicts 3 classes but 'fashion_mnist' has 10"):
        evaluate.evaluate(trained.final_model, limit=10)
    with pytest.raises(ValueError, match="`confusion_matrix` must be a .png path"):
        evaluate.evaluate(trained.final_model, classes=CLASSES, confusion_matrix=str(tmp_path / "c.jpg"))
    with pytest.raises(FileNotFoundError, match="`model` file not found"):
        evaluate.evaluate(str(tmp_path / "missing.keras"))


def test_evaluate_cli(trained: training.FitResult, tmp_path: Path) -> None:
    for name in os.listdir(datasets.FASHION_MNIST_DIR):
        (tmp_path / name).symlink_to(Path(datasets.FASHION_MNIST_DIR) / name)
    args = [sys.executable, "-m", "keras_resnet.evaluate", f"--model={trained.final_model}",
            "--dataset=fashion_mnist", f"--data_dir={tmp_path}", "--split=train", "--batch_size=100", "--limit=200",
            "--classes=5,7,9", "--per_class", f"--confusion_matrix={tmp_path / 'cm.png'}",
            f"--output={tmp_path / 'result.json'}"]
    done = subprocess.run(args, capture_output=True, text=True, env=ENV, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("top-1 accuracy: ") and "top-3: " in lines[0] and "(200 images)" in lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:4]] == ["Sandal", "Sneaker", "Ankle boot"]
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["examples"] == 200 and (tmp_path / "cm.png").stat().st_size > 1000
    assert f"{saved['accuracy']:.4f}" in lines[0]
    missing = subprocess.run([sys.executable, "-m", "keras_resnet.evaluate"], capture_output=True, text=True,
                             env=ENV, stdin=subprocess.DEVNULL)
    assert missing.returncode != 0 and "--model" in missing.stderr
