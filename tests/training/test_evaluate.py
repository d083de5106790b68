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
from absl import flags

from keras_resnet import class_report, datasets, evaluate, training
from keras_resnet.evaluate import cli as evaluate_cli
from keras_resnet.inference import FoldedBatchNorm, foldable_pairs, optimize_for_inference
from keras_resnet.layers import load_model

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
ENV.pop(evaluate_cli.FROZEN_WEIGHTS_ENV, None)  # the CLI test runs the CLI's default
CLASSES = (5, 7, 9)
RESNET8_PAIRS = 7  # conv1 + 3 stages x 1 block x 2 convolutions, option-A shortcuts have none


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
    assert result["per_class"] == {"precision": [0.5, None, 0.5], "recall": [0.5, 0.0, 1.0],
                                   "f1": [0.5, None, pytest.approx(2 / 3)], "support": [2, 1, 1]}
    assert evaluate.metrics(probs, labels, top_k=2)["top2"] == 0.75


def test_class_report_text_and_json() -> None:
    # class a: 3 examples, 2 right, 1 taken for b; class b: 1 example, right; class c: 1 example, taken for a.
    labels, predicted = np.array([0, 0, 0, 1, 2]), np.array([0, 0, 1, 1, 0])
    report = class_report.class_report(labels, predicted, ["a", "b", "c"])
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert report["per_class"] == {"precision": [pytest.approx(2 / 3), 0.5, None], "recall": [pytest.approx(2 / 3), 1.0,
                                   0.0], "f1": [pytest.approx(2 / 3), pytest.approx(2 / 3), None], "support": [3, 1, 1]}
    assert class_report.format_report(report).splitlines() == [
        "class  precision  recall     f1  support",
        "0 a       0.6667  0.6667  0.6667        3",
        "1 b       0.5000  1.0000  0.6667        1",
        "2 c            -  0.0000       -        1",
        "confusion matrix (rows: true class, columns: predicted):",
        "        0   1   2",
        "0 a     2   1   0",
        "1 b     0   1   0",
        "2 c     1   0   0",
    ]
    many = class_report.class_report(np.arange(30), np.arange(30), [f"c{i}" for i in range(30)])
    assert class_report.format_report(many).splitlines()[-1] == "confusion matrix of 30 classes: in the JSON"


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
    assert np.sum(result["confusion_matrix"]) == 300 and len(result["per_class"]["recall"]) == 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and os.listdir(tmp_path) == ["confusion.png"]
    report = evaluate.report(result, per_class=True)
    assert report.startswith("top-1 accuracy: ") and "\n2 Ankle boot " in report
    with pytest.raises(ValueError, match="The model predicts 3 classes but 'fashion_mnist' has 10"):
        evaluate.evaluate(trained.final_model, limit=10)
    with pytest.raises(ValueError, match="`confusion_matrix` must be a .png path"):
        evaluate.evaluate(trained.final_model, classes=CLASSES, confusion_matrix=str(tmp_path / "c.jpg"))
    with pytest.raises(FileNotFoundError, match="`model` file not found"):
        evaluate.evaluate(str(tmp_path / "missing.keras"))


def test_folded_evaluation_matches_the_plain_path(trained: training.FitResult) -> None:
    kwargs = {"classes": CLASSES, "limit": 300, "batch_size": 128}
    folded = evaluate.evaluate(trained.final_model, **kwargs)  # the default
    plain = evaluate.evaluate(trained.final_model, fold_batchnorm=False, **kwargs)
    assert folded["folded_batchnorms"] == RESNET8_PAIRS and plain["folded_batchnorms"] == 0
    for key in ("accuracy", "top3", "examples", "per_class", "confusion_matrix", "class_names", "spec"):
        assert folded[key] == plain[key], key
    assert abs(folded["loss"] - plain["loss"]) <= 1e-5
    net = load_model(trained.final_model, compile=False)
    fast = optimize_for_inference(net)
    assert sum(isinstance(layer, FoldedBatchNorm) for layer in fast.layers) == len(foldable_pairs(net)) > 0
    data, _ = datasets.pipeline(datasets.load("fashion_mnist"), "test", training=False, batch_size=128,
                                image_size=net.input_shape[1], classes=CLASSES, limit=300)
    probs, labels = evaluate.predict(net, data)
    fast_probs, fast_labels = evaluate.predict(fast, data)
    np.testing.assert_array_equal(fast_labels, labels)
    np.testing.assert_allclose(fast_probs, probs, atol=1e-4, rtol=0)


def test_a_model_with_nothing_to_fold_is_evaluated_as_it_is(tmp_path: Path) -> None:
    inputs = keras.Input((16, 16, 3))
    no_bn = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(
        keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))))
    sequential = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
                                   keras.layers.BatchNormalization(), keras.layers.GlobalAveragePooling2D(),
                                   keras.layers.Dense(3, activation="softmax")])  # not functional: not folded
    for name, model in {"no_bn": no_bn, "sequential": sequential}.items():
        path = str(tmp_path / f"{name}.keras")
        model.save(path)
        kwargs = {"classes": CLASSES, "limit": 64, "batch_size": 32}
        folded, plain = (evaluate.evaluate(path, fold_batchnorm=fold, **kwargs) for fold in (True, False))
        assert folded["folded_batchnorms"] == 0 and folded == plain, name


def test_cli_defaults_to_frozen_weights_unless_the_user_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    name = evaluate_cli.FROZEN_WEIGHTS_ENV
    monkeypatch.delenv(name, raising=False)
    assert evaluate_cli.default_frozen_weights() and os.environ[name] == "1"
    assert not evaluate_cli.default_frozen_weights() and os.environ[name] == "1"
    monkeypatch.setenv(name, "0")
    assert not evaluate_cli.default_frozen_weights() and os.environ[name] == "0"  # the user's 0 wins
    # main() sets it before evaluate() (which imports TensorFlow) and passes --fold_batchnorm (default true)
    seen = []

    def fake_evaluate(*args: object, **kwargs: object) -> dict:
        seen.append((os.environ.get(name), kwargs["fold_batchnorm"]))
        raise ValueError("stop")

    monkeypatch.setattr(evaluate_cli, "evaluate", fake_evaluate)
    for argv, env, expected in [([], None, ("1", True)), (["--nofold_batchnorm"], "0", ("0", False))]:
        fv = flags.FlagValues()
        evaluate_cli.define_flags(fv)
        fv(["evaluate", "--model=m.keras", *argv])
        monkeypatch.setattr(flags, "FLAGS", fv)
        if env is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, env)
        assert evaluate_cli.main(["evaluate"]) == 1 and seen[-1] == expected


@pytest.mark.subprocess
def test_evaluate_cli(trained: training.FitResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
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
    assert lines[1].split() == ["class", "precision", "recall", "f1", "support"]
    assert [line[:12].strip() for line in lines[2:5]] == ["0 Sandal", "1 Sneaker", "2 Ankle boot"]
    assert lines[5] == "confusion matrix (rows: true class, columns: predicted):"
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["examples"] == 200 and (tmp_path / "cm.png").stat().st_size > 1000
    assert f"{saved['accuracy']:.4f}" in lines[0]
    # The CLI's defaults (batch norm folded, TF_ONEDNN_ASSUME_FROZEN_WEIGHTS=1) vs the plain path in this process.
    monkeypatch.delenv(evaluate_cli.FROZEN_WEIGHTS_ENV, raising=False)
    plain = evaluate.evaluate(trained.final_model, data_dir=str(tmp_path), split="train", batch_size=100, limit=200,
                              classes=CLASSES, fold_batchnorm=False)
    assert saved["folded_batchnorms"] == RESNET8_PAIRS and plain["folded_batchnorms"] == 0
    assert abs(saved["loss"] - plain["loss"]) <= 1e-5
    assert {**saved, "loss": 0.0, "folded_batchnorms": 0} == {**plain, "loss": 0.0}
    assert lines[:-1] == evaluate.report({**plain, "loss": saved["loss"]}, per_class=True).splitlines()
    missing = subprocess.run([sys.executable, "-m", "keras_resnet.evaluate"], capture_output=True, text=True,
                             env=ENV, stdin=subprocess.DEVNULL)
    assert missing.returncode == 2 and missing.stderr == ("python -m keras_resnet.evaluate: error: flag "
                                                          "--model=None: Flag --model must have a value other than "
                                                          "None.\n")
