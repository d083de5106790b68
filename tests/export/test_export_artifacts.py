"""One full ``python -m export`` run (every flag set) on a small trained option-A net, then its artifacts:
TF Serving SavedModel (saved_model_cli, a fresh process without keras_resnet), LiteRT files, the ONNX file
(onnxruntime in a process without TensorFlow), report."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from export_support import BIN, PYTHON, fashion_mnist, run_cli, run_process, small_net, write_npz

import export
from keras_resnet import datasets

VARIANTS = ("fp32", "dynamic", "fp16", "int8", "uint8", "qat")
NAME, VERSION, TOP_K, EVAL, QAT_SAMPLES = "fmnist_net", 3, 3, 150, 256
LABELS = list(datasets.FASHION_MNIST_CLASSES)

FRESH_PROCESS = """
import sys
for blocked in ("keras_resnet", "keras", "tf_keras", "export"):
    sys.modules[blocked] = None  # the SavedModel must need TensorFlow only
import numpy as np
import tensorflow as tf

model = tf.saved_model.load(sys.argv[1])
data = np.load(sys.argv[2])
images = model.signatures["serving_default"](images=tf.constant(data["x"]))
encoded = model.signatures["image_bytes"](image_bytes=tf.constant(list(data["png"])))
arrays = {f"{prefix}_{k}": v.numpy().astype("S") if v.dtype == tf.string else v.numpy()
          for prefix, outputs in (("images", images), ("bytes", encoded)) for k, v in outputs.items()}
np.savez(sys.argv[3], **arrays)
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("export_cli")
    model = small_net(train_images=512)
    model.save(tmp / "model.keras")
    x, y = fashion_mnist("test", 200)
    train_x, train_y = fashion_mnist("train", 512)
    (tmp / "labels.txt").write_text("\n".join(LABELS) + "\n")
    out = tmp / "out"
    out.mkdir()
    (out / "stale.txt").write_text("from an earlier export")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = run_cli(
            f"--model={tmp / 'model.keras'}", f"--output_dir={out}",
            f"--eval_data={write_npz(tmp / 'test.npz', x, y)}",
            f"--calibration_data={write_npz(tmp / 'train.npz', train_x, train_y)}",
            f"--eval_samples={EVAL}", "--formats=savedmodel,tflite,onnx", f"--variants={','.join(VARIANTS)}",
            f"--model_name={NAME}", f"--version={VERSION}", f"--labels={tmp / 'labels.txt'}", f"--top_k={TOP_K}",
            # (pixels * 0.5 - 0) / 0.5 is exactly the raw pixels the model takes, through every flag.
            "--resize=pad", "--pixel_scale=0.5", "--pixel_mean=0,0,0", "--pixel_std=0.5",
            "--calibration_steps=16", "--int8_io", "--qat_epochs=1", f"--qat_samples={QAT_SAMPLES}",
            "--qat_batch_size=32", "--qat_learning_rate=5e-5", "--latency_runs=3", "--threads=1,2",
            "--custom_modules=keras_resnet.layers", "--overwrite", "--seed=1",
        )
    return {"tmp": tmp, "out": out, "status": status, "stdout": stdout.getvalue(), "x": x[:EVAL], "y": y[:EVAL],
            "keras": model.predict(x[:EVAL], verbose=0)}


def serving_dir(exported: dict) -> Path:
    return exported["out"] / NAME / str(VERSION)


def tflite_file(exported: dict, variant: str) -> Path:
    return exported["out"] / "tflite" / f"{NAME}_{variant}.tflite"


@pytest.mark.subprocess
def test_layout_and_overwrite(exported: dict) -> None:
    out = exported["out"]
    assert exported["status"] == 0
    assert (serving_dir(exported) / "saved_model.pb").is_file()
    assert (serving_dir(exported) / "variables").is_dir()
    assert sorted(p.name for p in (out / "tflite").iterdir()) == sorted(
        ["labels.txt", *(f"{NAME}_{v}.tflite" for v in VARIANTS)])
    assert (out / "tflite" / "labels.txt").read_text().splitlines() == LABELS
    assert [p.name for p in (out / "onnx").iterdir()] == [f"{NAME}.onnx"]
    assert {"report.md", "report.json", "report.png"} <= {p.name for p in out.iterdir()}
    assert not (out / "stale.txt").exists()  # --overwrite replaced the old folder as a whole
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []  # no staging leftovers
    assert "| variant |" in exported["stdout"] and f"written to {out}" in exported["stdout"]


ONNX_PROCESS = """
import sys
for blocked in ("tensorflow", "keras", "keras_resnet", "export"):
    sys.modules[blocked] = None  # onnxruntime alone
import numpy as np
import onnxruntime

session = onnxruntime.InferenceSession(sys.argv[1])
(images,), (probabilities,) = session.get_inputs(), session.get_outputs()
x = np.load(sys.argv[2])
np.savez(sys.argv[3], names=[images.name, probabilities.name], shape=[str(d) for d in images.shape],
         one=session.run(None, {"images": x[:1]})[0], all=session.run(None, {"images": x})[0])
"""


@pytest.mark.subprocess
def test_onnx_runs_in_onnxruntime_alone_with_any_batch(exported: dict, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", exported["x"])
    script = tmp_path / "ort.py"
    script.write_text(ONNX_PROCESS)
    ran = run_process(PYTHON, str(script), str(exported["out"] / "onnx" / f"{NAME}.onnx"), str(tmp_path / "x.npy"),
                      str(tmp_path / "out.npz"))
    assert ran.returncode == 0, ran.stderr
    got = np.load(tmp_path / "out.npz")
    assert list(got["names"]) == ["images", "probabilities"] and list(got["shape"]) == ["batch", "32", "32", "3"]
    assert got["one"].shape == (1, 10) and got["all"].shape == (EVAL, 10)
    assert np.abs(got["all"] - exported["keras"]).max() <= 1e-4


@pytest.mark.subprocess
def test_saved_model_cli_show_lists_both_signatures(exported: dict) -> None:
    shown = run_process(str(BIN / "saved_model_cli"), "show", "--all", "--dir", str(serving_dir(exported)))
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    for expected in ("signature_def['serving_default']", "signature_def['image_bytes']", "inputs['images']",
                     "shape: (-1, 32, 32, 3)", "inputs['image_bytes']", "dtype: DT_STRING",
                     "outputs['probabilities']", "outputs['top_k_ids']", "outputs['top_k_names']",
                     "outputs['top_k_probabilities']", f"shape: (-1, {TOP_K})"):
        assert expected in text


@pytest.mark.subprocess
def test_saved_model_cli_run_matches_keras(exported: dict, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", exported["x"][:4])
    ran = run_process(str(BIN / "saved_model_cli"), "run", "--dir", str(serving_dir(exported)), "--tag_set", "serve",
                      "--signature_def", "serving_default", "--inputs", f"images={tmp_path / 'x.npy'}",
                      "--outdir", str(tmp_path / "outputs"))
    assert ran.returncode == 0, ran.stderr
    probabilities = np.load(tmp_path / "outputs" / "probabilities.npy")
    assert np.abs(probabilities - exported["keras"][:4]).max() <= 1e-5


@pytest.mark.subprocess
def test_fresh_process_without_keras_resnet_matches_keras(exported: dict, tmp_path: Path) -> None:
    """Both signatures, in a process where keras_resnet, Keras and tf_keras cannot be imported."""
    raw = datasets.read_idx(Path(datasets.FASHION_MNIST_DIR) / "t10k-images-idx3-ubyte.gz")[:16]
    png = [tf.io.encode_png(image[..., None]).numpy() for image in raw]  # the dataset's own 28x28 grey images
    np.savez(tmp_path / "in.npz", x=exported["x"], png=np.array(png))  # bytes; PNGs never end in NUL
    script = tmp_path / "load.py"
    script.write_text(FRESH_PROCESS)
    ran = run_process(PYTHON, str(script), str(serving_dir(exported)), str(tmp_path / "in.npz"),
                      str(tmp_path / "out.npz"))
    assert ran.returncode == 0, ran.stderr
    got = np.load(tmp_path / "out.npz")
    assert np.abs(got["images_probabilities"] - exported["keras"]).max() <= 1e-5
    # image_bytes = decode + the training pipeline's preprocessing (grey -> RGB, 28 -> 32 zero padding).
    assert np.abs(got["bytes_probabilities"] - exported["keras"][:16]).max() <= 1e-5
    order = np.argsort(-got["images_probabilities"], axis=1, kind="stable")[:, :TOP_K]
    assert got["images_top_k_ids"].shape == (EVAL, TOP_K)
    assert (got["images_top_k_ids"][:, 0] == order[:, 0]).all()
    np.testing.assert_allclose(got["images_top_k_probabilities"],
                               np.take_along_axis(got["images_probabilities"], got["images_top_k_ids"], axis=1))
    names = np.vectorize(lambda i: LABELS[i].encode())(got["images_top_k_ids"])
    assert (got["images_top_k_names"] == names).all()


@pytest.mark.subprocess
def test_image_bytes_takes_jpeg_and_rgb(exported: dict) -> None:
    image = tf.image.grayscale_to_rgb(tf.constant(exported["x"][0][..., :1].astype(np.uint8)))
    signature = tf.saved_model.load(str(serving_dir(exported))).signatures["image_bytes"]
    encoded = [tf.io.encode_jpeg(image, quality=100), tf.io.encode_png(image)]
    probabilities = signature(image_bytes=tf.stack(encoded))["probabilities"].numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(probabilities[1] - exported["keras"][0]).max() <= 1e-5  # 32x32 PNG: no padding needed


@pytest.mark.subprocess
@pytest.mark.parametrize("variant", VARIANTS)
def test_tflite_file_runs_with_builtin_ops_only(exported: dict, variant: str) -> None:
    interpreter = Interpreter(model_path=str(tflite_file(exported, variant)),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    assert interpreter.get_signature_list() == {"serving_default": {"inputs": ["images"],
                                                                    "outputs": ["probabilities"]}}
    runner = interpreter.get_signature_runner("serving_default")
    io_dtype = np.int8 if variant in ("int8", "qat") else np.float32  # --int8_io
    input_dtype = np.uint8 if variant == "uint8" else io_dtype  # camera-ready: pixels in, whatever --int8_io says
    inputs = runner.get_input_details()["images"]
    assert inputs["dtype"] == input_dtype
    if variant == "uint8":
        assert inputs["quantization"] == (1.0, 0)  # uint8 pixel values are the model's 0-255 input, unchanged
    assert runner.get_output_details()["probabilities"]["dtype"] == io_dtype
    output = runner(images=np.zeros((2, 32, 32, 3), input_dtype))["probabilities"]
    assert output.shape == (2, 10)


@pytest.mark.subprocess
def test_report_measures_every_variant(exported: dict) -> None:
    report = json.loads((exported["out"] / "report.json").read_text())
    rows = {row["variant"]: row for row in report["rows"]}
    assert list(rows) == ["keras", "savedmodel", "image_bytes png", "image_bytes jpeg", "onnx", *VARIANTS]
    assert report["eval_samples"] == EVAL and report["latency_runs"] == 3 and report["int8_io"] is True
    assert report["labels"] == LABELS and report["model_name"] == NAME and report["version"] == VERSION
    assert report["preprocessing"] == {"resize": "pad", "short_side": None, "pixel_scale": 0.5,
                                       "pixel_mean": [0.0, 0.0, 0.0], "pixel_std": [0.5], "transform": None}
    assert report["metadata"] is True and report["wall_time_s"] > 0
    keras_accuracy = float(np.mean(exported["keras"].argmax(axis=1) == exported["y"]))
    assert report["keras_accuracy"] == pytest.approx(keras_accuracy)
    for variant in VARIANTS:
        row = rows[variant]
        assert set(row["latency_ms"]) == {"1", "2"} and all(v > 0 for v in row["latency_ms"].values())
        assert row["size_bytes"] == tflite_file(exported, variant).stat().st_size
        assert 0 <= row["agreement"] <= 1 and row["max_abs_diff"] >= 0
        assert row["accuracy_drop"] == pytest.approx(100 * (keras_accuracy - row["accuracy"]))
    assert rows["savedmodel"]["max_abs_diff"] <= 1e-5
    assert rows["fp32"]["max_abs_diff"] <= 1e-4
    for smaller in ("dynamic", "fp16", "int8", "qat"):
        assert rows[smaller]["size_bytes"] < rows["fp32"]["size_bytes"]
    assert report["qat"]["rebuild_max_abs_diff"] <= 1e-5
    assert report["qat"]["epochs"] == 1 and report["qat"]["samples"] == QAT_SAMPLES
    assert len(report["qat"]["history"]["loss"]) == 1
    targets = {t["target"]: t for t in report["targets"]}
    assert len(targets) == len(export.TARGETS) and all(isinstance(t["met"], bool) for t in targets.values())
    assert rows["onnx"]["max_abs_diff"] <= 1e-4 and rows["onnx"]["agreement"] == 1.0
    assert set(rows["onnx"]["latency_ms"]) == {"1", "2"} and rows["onnx"]["path"] == f"onnx/{NAME}.onnx"
    phases = report["phases_s"]
    for phase in ("load", "savedmodel", "image_bytes png", "onnx", "qat fine-tune",
                  *(f"convert {v}" for v in VARIANTS), *(f"check {v}" for v in VARIANTS),
                  *(f"latency {v}" for v in VARIANTS), "calibrate int8", "calibrate uint8"):
        assert phases[phase] >= 0, phase
    assert "## Time per phase" in (exported["out"] / "report.md").read_text()
    # image_bytes: the eval images' pixels, encoded, through the signature; --resize=pad keeps 32x32 as is.
    assert rows["image_bytes png"]["max_abs_diff"] <= 1e-5 and rows["image_bytes png"]["agreement"] == 1.0
    assert rows["image_bytes jpeg"]["agreement"] >= 0.9 and rows["image_bytes jpeg"]["max_abs_diff"] > 0
    assert rows["image_bytes png"]["size_bytes"] is None and rows["image_bytes png"]["path"] == f"{NAME}/{VERSION}"
    assert targets["fp32 max abs diff <= 0.0001"]["met"] is True


@pytest.mark.subprocess
def test_report_markdown_and_plot(exported: dict) -> None:
    report = json.loads((exported["out"] / "report.json").read_text())
    markdown = (exported["out"] / "report.md").read_text()
    assert "| variant |" in markdown and "## Targets" in markdown and "![accuracy vs size](report.png)" in markdown
    for target in report["targets"]:
        verdict = "met" if target["met"] else "**MISSED**"
        assert f"| {target['target']} |" in markdown and verdict in markdown
    plot = keras.utils.load_img(exported["out"] / "report.png")
    assert min(plot.size) > 100
