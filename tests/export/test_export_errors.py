"""Bad input -> one clear error naming the argument (or CLI flag), and nothing written; atomic output."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from absl import flags
from export_support import PYTHON, ROOT, fashion_mnist, run_cli, run_export, run_process, small_net, write_npz

import export
from export import ExportError, Preprocessing

FAST = {"formats": ["tflite"], "variants": ["fp32"], "latency_runs": 1, "threads": [1]}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("export_inputs")
    small_net().save(tmp / "model.keras")
    x, y = fashion_mnist("test", 32)
    return {"model": tmp / "model.keras", "x": x, "y": y, "eval": write_npz(tmp / "eval.npz", x, y),
            "calibration": write_npz(tmp / "calibration.npz", x, y), "tmp": tmp}


def saved(tmp_path: Path, model: keras.Model) -> Path:
    model.save(tmp_path / "other.keras")
    return tmp_path / "other.keras"


def corrupt(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).write_bytes(b"not a zip file")
    return tmp_path / name


def unregistered_layer_model(tmp_path: Path) -> Path:
    """A .keras file whose custom layer no imported module registers."""

    @keras.saving.register_keras_serializable(package="export_tests")
    class Twice(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return 2 * x

    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(Twice()(inputs)))
    path = saved(tmp_path, keras.Model(inputs, outputs))
    del keras.saving.get_custom_objects()["export_tests>Twice"]
    return path


def lambda_model(tmp_path: Path) -> Path:
    inputs = keras.Input((32, 32, 3))
    flat = keras.layers.Flatten()(keras.layers.Lambda(lambda t: t * 2)(inputs))
    return saved(tmp_path, keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(flat)))


def two_output_model(tmp_path: Path) -> Path:
    inputs = keras.Input((32, 32, 3))
    flat = keras.layers.Flatten()(inputs)
    outputs = [keras.layers.Dense(10, activation="softmax")(flat), keras.layers.Dense(2)(flat)]
    return saved(tmp_path, keras.Model(inputs, outputs))


def logits_model(tmp_path: Path) -> Path:
    inputs = keras.Input((32, 32, 3))
    return saved(tmp_path, keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs))))


def grey_model(tmp_path: Path) -> Path:
    inputs = keras.Input((32, 32, 1))
    flat = keras.layers.Flatten()(inputs)
    return saved(tmp_path, keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(flat)))


def npz_without_x(tmp_path: Path, inputs: dict) -> Path:
    np.savez(tmp_path / "bad.npz", images=inputs["x"])
    return tmp_path / "bad.npz"


def empty_folder(tmp_path: Path) -> str:
    (tmp_path / "no_classes").mkdir()
    return str(tmp_path / "no_classes")


# (argument named in the error, keyword arguments replacing the valid ones; callables get (tmp_path, inputs))
CASES = {
    "missing model file": ("model", {"model": lambda t, i: t / "nope.keras"}),
    "corrupt model file": ("model", {"model": lambda t, i: corrupt(t, "bad.keras")}),
    "unknown model format": ("model", {"model": lambda t, i: corrupt(t, "model.h5")}),
    "unregistered custom layer": ("custom_modules", {"model": lambda t, i: unregistered_layer_model(t)}),
    "lambda refused by safe_mode": ("model", {"model": lambda t, i: lambda_model(t)}),
    "not a classifier": ("model", {"model": lambda t, i: two_output_model(t)}),
    "logits, not probabilities": ("model", {"model": lambda t, i: logits_model(t)}),
    "not a Keras model": ("model", {"model": lambda t, i: 42}),
    "custom module not importable": ("custom_modules", {"custom_modules": ["no_such_module_for_export"]}),
    "unknown format": ("formats", {"formats": ["savedmodel", "pdf"]}),
    "no format": ("formats", {"formats": []}),
    "unknown variant": ("variants", {"variants": ["int4"]}),
    "unknown granularity": ("int8_granularity", {"variants": ["int8"], "int8_granularity": ["per_row"]}),
    "no granularity": ("int8_granularity", {"int8_granularity": []}),
    "int8 without calibration data": ("calibration_data", {"variants": ["int8"], "calibration_data": None}),
    "qat without labels": ("calibration_data", {"variants": ["qat"], "calibration_data": lambda t, i: i["x"]}),
    "calibration data of the wrong shape": (
        "calibration_data", {"variants": ["int8"], "calibration_data": lambda t, i: i["x"][:, :28, :28, :1]}),
    "calibration data of the wrong dtype": (
        "calibration_data", {"variants": ["int8"], "calibration_data": lambda t, i: i["x"].astype(np.uint8)}),
    "calibration data with NaN": (
        "calibration_data", {"variants": ["int8"], "calibration_data": lambda t, i: i["x"] * np.nan}),
    "calibration npz without x": (
        "calibration_data", {"variants": ["int8"], "calibration_data": npz_without_x}),
    "corrupt calibration npz": (
        "calibration_data", {"variants": ["int8"], "calibration_data": lambda t, i: corrupt(t, "c.npz")}),
    "too many calibration steps": ("calibration_steps", {"variants": ["int8"], "calibration_steps": 33}),
    "zero calibration steps": ("calibration_steps", {"calibration_steps": 0}),
    "no eval data": ("eval_data", {"eval_data": None}),
    "missing eval npz": ("eval_data", {"eval_data": lambda t, i: t / "missing.npz"}),
    "eval labels out of range": ("eval_data", {"eval_data": lambda t, i: (i["x"], i["y"] + 10)}),
    "eval labels not integers": ("eval_data", {"eval_data": lambda t, i: (i["x"], i["y"] * 0.5)}),
    "eval_samples zero": ("eval_samples", {"eval_samples": 0}),
    "dataset and npz together": ("dataset", {"dataset": "fashion_mnist"}),
    "dataset that is no dataset": ("dataset", {"dataset": lambda t, i: empty_folder(t), "eval_data": None}),
    "dataset for a grey model": (
        "dataset", {"dataset": "fashion_mnist", "eval_data": None, "model": lambda t, i: grey_model(t)}),
    "wrong number of labels": ("labels", {"labels": ["a", "b"]}),
    "missing labels file": ("labels", {"labels": lambda t, i: t / "labels.txt"}),
    "bad model name": ("model_name", {"model_name": "../escape"}),
    "top_k above classes": ("top_k", {"top_k": 11}),
    "version zero": ("version", {"version": 0}),
    "no threads": ("threads", {"threads": [0]}),
    "latency_runs zero": ("latency_runs", {"latency_runs": 0}),
    "qat_epochs zero": ("qat_epochs", {"qat_epochs": 0}),
    "qat_samples zero": ("qat_samples", {"qat_samples": 0}),
    "qat_batch_size zero": ("qat_batch_size", {"qat_batch_size": 0}),
    "negative qat learning rate": ("qat_learning_rate", {"qat_learning_rate": -1.0}),
    "unknown resize": ("resize", {"preprocessing": Preprocessing(resize="lanczos7")}),
    "mean per wrong channel count": ("pixel_mean", {"preprocessing": Preprocessing(pixel_mean=(1.0, 2.0))}),
    "zero std": ("pixel_std", {"preprocessing": Preprocessing(pixel_std=(0.0,))}),
    "zero scale": ("pixel_scale", {"preprocessing": Preprocessing(pixel_scale=0.0)}),
    "output under a file": ("output_dir", {"output_dir": lambda t, i: corrupt(t, "file") / "out"}),
    "output is a file": ("output_dir", {"output_dir": lambda t, i: corrupt(t, "file"), "overwrite": True}),
    "output where nothing can be created": ("output_dir", {"output_dir": "/proc/export_test/out"}),
    "short_side without fit": ("short_side", {"preprocessing": Preprocessing(resize="pad", short_side=28)}),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_names_the_argument_and_writes_nothing(case: str, inputs: dict, tmp_path: Path) -> None:
    argument, changes = CASES[case]
    kwargs = {"model": inputs["model"], "output_dir": tmp_path / "exports" / "out", "eval_data": inputs["eval"],
              "calibration_data": inputs["calibration"], **FAST}
    kwargs.update({k: v(tmp_path, inputs) if callable(v) else v for k, v in changes.items()})
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(ExportError) as raised:
        run_export(**kwargs)
    assert raised.value.argument == argument, raised.value
    assert str(raised.value).startswith(f"`{argument}`: ")
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even the parent folder


def test_existing_output_is_refused_then_replaced_with_overwrite(inputs: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="already exists") as raised:
        run_export(inputs["model"], out, eval_data=inputs["eval"], **FAST)
    assert raised.value.argument == "output_dir" and (out / "keep.txt").read_text() == "mine"
    run_export(inputs["model"], out, eval_data=inputs["eval"], overwrite=True, **FAST)
    assert not (out / "keep.txt").exists() and (out / "report.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failure_midway_leaves_nothing_and_keeps_the_old_output(inputs: dict, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(export.tflite, "convert", broken)
    new = tmp_path / "a" / "b" / "out"
    with pytest.raises(RuntimeError, match="converter crashed"):
        run_export(inputs["model"], new, eval_data=inputs["eval"], **FAST)
    assert list(tmp_path.iterdir()) == []  # tflite/ and labels.txt, written before the crash, and a/b/ are gone
    old = tmp_path / "old"
    old.mkdir()
    (old / "keep.txt").write_text("mine")
    with pytest.raises(RuntimeError, match="converter crashed"):
        run_export(inputs["model"], old, eval_data=inputs["eval"], overwrite=True, **FAST)
    assert [p.name for p in tmp_path.iterdir()] == ["old"] and (old / "keep.txt").read_text() == "mine"


@pytest.mark.subprocess
@pytest.mark.parametrize(("args", "flag"), [
    (["--formats=savedmodel,pdf"], "formats"),
    (["--variants=int4"], "variants"),
    (["--int8_granularity=per_row"], "int8_granularity"),
    (["--qat_epochs=0"], "qat_epochs"),
    (["--variants=int8", "--calibration_data="], "calibration_data"),
    (["--eval_data=missing.npz"], "eval_data"),
    (["--custom_modules=no_such_module_for_export"], "custom_modules"),
    (["--pixel_mean=1,2"], "pixel_mean"),
])
def test_cli_error_is_one_line_naming_the_flag(args: list[str], flag: str, inputs: dict, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    base = [f"--model={inputs['model']}", f"--output_dir={tmp_path / 'out'}", f"--eval_data={inputs['eval']}",
            f"--calibration_data={inputs['calibration']}"]
    assert run_cli(*base, *args) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(f"error: --{flag}: ")
    assert not (tmp_path / "out").exists()


@pytest.mark.subprocess
@pytest.mark.parametrize("args", [["--resize=lanczos"], ["--threads=one"], ["--pixel_std=x"], ["--int8_io=maybe"]])
def test_cli_rejects_malformed_flag_values(args: list[str], tmp_path: Path) -> None:
    with pytest.raises(flags.IllegalFlagValueError):
        run_cli("--model=m.keras", f"--output_dir={tmp_path}", *args)


@pytest.mark.subprocess
def test_cli_entry_point(inputs: dict, tmp_path: Path) -> None:
    """``python -m export``: --help lists every flag; an error exits 2 with one line on stderr."""
    shown = run_process(PYTHON, "-m", "export", "--help")  # (absl exits 1 after --help)
    fv = flags.FlagValues()
    export.cli.define_flags(fv)
    for name in fv:
        assert f"--{name}" in shown.stdout or f"--[no]{name}" in shown.stdout
    failed = run_process(PYTHON, "-m", "export", f"--model={inputs['model']}", f"--output_dir={tmp_path / 'o'}",
                         "--formats=pdf")
    assert failed.returncode == 2
    assert "error: --formats: unknown name(s) ['pdf']" in failed.stderr
    assert not (tmp_path / "o").exists()


def test_npz_is_read_without_pickle(tmp_path: Path, inputs: dict) -> None:
    np.savez(tmp_path / "objects.npz", x=np.array([object()]), y=inputs["y"][:1])
    with pytest.raises(ExportError, match="cannot read") as raised:
        run_export(inputs["model"], tmp_path / "out", eval_data=tmp_path / "objects.npz", **FAST)
    assert raised.value.argument == "eval_data"


@pytest.mark.subprocess
def test_stale_staging_folders_of_dead_exports_are_removed(inputs: dict, tmp_path: Path) -> None:
    """A `kill -9`ed export leaves .<name>.partial-<pid>-*; the next run removes it, not a running one's."""
    finished = subprocess.Popen([PYTHON, "-c", "pass"])
    finished.wait()  # its process id no longer runs
    dead = tmp_path / f".out.partial-{finished.pid}-abc123"
    alive = tmp_path / f".out.partial-{os.getpid()}-def456"
    other = tmp_path / f".other.partial-{finished.pid}-ghi789"  # another destination's: not ours
    for folder in (dead, alive, other):
        folder.mkdir()
        (folder / "model.tflite").write_bytes(b"half written")
    run_export(inputs["model"], tmp_path / "out", eval_data=inputs["eval"], **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out", alive.name, other.name])


def test_unknown_layer_class_is_one_short_line_naming_its_module(tmp_path: Path, inputs: dict) -> None:
    with pytest.raises(ExportError) as raised:
        run_export(unregistered_layer_model(tmp_path), tmp_path / "out", eval_data=inputs["eval"], **FAST)
    message = str(raised.value)
    assert "\n" not in message and len(message) < 300 and "pass --custom_modules=test_export_errors" in message
    assert "Twice from test_export_errors" in message


def test_text_file_named_keras_is_not_reported_missing(tmp_path: Path, inputs: dict) -> None:
    with pytest.raises(ExportError, match="not a Keras 3 `.keras` file .*zip") as raised:
        run_export(corrupt(tmp_path, "text.keras"), tmp_path / "out", eval_data=inputs["eval"], **FAST)
    assert raised.value.argument == "model"


EARLY = """
import sys
from absl import flags
from export import cli
for args in {cases!r}:
    fv = flags.FlagValues()
    cli.define_flags(fv)
    fv(["export", *args])
    print(cli.main(["export"], fv), "tensorflow" in sys.modules)
"""


@pytest.mark.subprocess
def test_bad_flags_are_rejected_before_tensorflow_is_imported(inputs: dict, tmp_path: Path) -> None:
    base = [f"--model={inputs['model']}", f"--output_dir={tmp_path / 'out'}"]
    cases = [
        [*base, "--formats=pdf"],
        [f"--model={inputs['model']}", "--output_dir=/proc/export_test/out"],
        [f"--model={corrupt(tmp_path, 'text.keras')}", f"--output_dir={tmp_path / 'out'}"],
        [f"--model={unregistered_layer_model(tmp_path)}", f"--output_dir={tmp_path / 'out'}"],
        [*base, "--threads=0"],
        [*base, "--resize=pad", "--short_side=28"],
    ]
    script = tmp_path / "early.py"
    script.write_text(EARLY.format(cases=cases))
    ran = subprocess.run([PYTHON, str(script)], capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == ["2 False"] * len(cases)
    errors = ran.stderr.splitlines()
    assert len(errors) == len(cases) and all(line.startswith("error: --") for line in errors), errors
    for flag, line in zip(["formats", "output_dir", "model", "custom_modules", "threads", "short_side"], errors,
                          strict=True):
        assert line.startswith(f"error: --{flag}: "), line


NATIVE_LOG = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|cuInit|cuda_", re.MULTILINE)


@keras.saving.register_keras_serializable(package="export_tests")
class IncompleteGamma(keras.layers.Layer):
    """A layer whose TensorFlow op (Igamma) tf2onnx cannot convert."""

    def call(self, x: Any) -> Any:
        import tensorflow as tf

        return tf.math.igamma(tf.abs(x) + 1.0, tf.abs(x) + 1.0)


def test_model_onnx_cannot_express_is_one_line_naming_the_layer(tmp_path: Path, inputs: dict) -> None:
    images = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(IncompleteGamma(name="gamma_features")(images))
    model = keras.Model(images, keras.layers.Dense(10, activation="softmax")(features))
    with pytest.raises(ExportError) as raised:
        run_export(model, tmp_path / "out", eval_data=inputs["eval"], **{**FAST, "formats": ["onnx"]})
    message = str(raised.value)
    assert raised.value.argument == "formats" and "\n" not in message
    assert "layer 'gamma_features' (IncompleteGamma) uses TensorFlow op Igamma" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.subprocess
def test_missing_onnxruntime_is_one_line_before_anything_runs(monkeypatch: pytest.MonkeyPatch, inputs: dict,
                                                              tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as when it is not installed
    with pytest.raises(ExportError, match=r"onnx needs onnxruntime \(pip install") as raised:
        run_export(inputs["model"], tmp_path / "out", eval_data=inputs["eval"], **{**FAST, "formats": ["onnx"]})
    assert raised.value.argument == "formats"
    assert run_cli(f"--model={inputs['model']}", f"--output_dir={tmp_path / 'out'}", "--formats=tflite,onnx") == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --formats: onnx needs onnxruntime (pip install -r requirements-bench.txt), which is not installed; "
        "leave onnx out of --formats"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.subprocess
def test_killed_export_leaves_its_folder_and_the_rerun_removes_it_and_native_logs_need_verbose(
        inputs: dict, tmp_path: Path) -> None:
    """`kill -9` mid-export (while it writes into its staging folder); the rerun says so in one line, succeeds,
    and leaves the output folder alone beside it. The killed run had ``--verbose`` and the rerun not: the same
    export shows TensorFlow's native log lines only with ``--verbose`` (each is a fresh process: those lines
    come from TensorFlow's C++ side as it starts)."""
    command = [PYTHON, "-m", "export", f"--model={inputs['model']}", f"--eval_data={inputs['eval']}",
               f"--output_dir={tmp_path / 'out'}", "--formats=savedmodel,tflite", "--variants=fp32",
               "--latency_runs=1", "--threads=1", "--custom_modules=keras_resnet.layers"]
    with tempfile.TemporaryFile("w+") as verbose_stderr:
        killed = subprocess.Popen([*command, "--verbose"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=verbose_stderr)
        while killed.poll() is None and not list(tmp_path.glob(".out.partial-*/*")):
            time.sleep(0.05)
        killed.kill()
        assert killed.wait() == -signal.SIGKILL, "the export ended before it could be killed"
        verbose_stderr.seek(0)
        verbose = verbose_stderr.read()
    assert NATIVE_LOG.search(verbose), verbose
    assert [p.name.split("-")[0] for p in tmp_path.iterdir()] == [".out.partial"]
    rerun = run_process(*command)
    assert rerun.returncode == 0, rerun.stderr
    assert not NATIVE_LOG.search(rerun.stderr), rerun.stderr
    assert "| fp32 |" in rerun.stdout
    removed = [line for line in rerun.stderr.splitlines() if "killed export" in line]
    assert len(removed) == 1 and f".out.partial-{killed.pid}-" in removed[0], rerun.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
