"""Tests for keras_resnet.training and its command line (``python -m keras_resnet.training``).

Real Fashion-MNIST (Debian's IDX files), tiny nets (CIFAR ResNet-8 at width
0.25-0.5), a few steps. The crash test kills a real training process.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from absl import flags

from keras_resnet import cpu, datasets, training
from keras_resnet.specs import ResNetSpec
from keras_resnet.training import cli

FASHION = datasets.FASHION_MNIST_DIR
pytestmark = pytest.mark.skipif(not os.path.isdir(FASHION), reason="Debian's dataset-fashion-mnist is not installed")

TINY = {"model": "resnet8", "width_multiplier": 0.25, "train_examples": 256, "eval_examples": 128,
        "global_batch_size": 32, "epochs": 1}
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def run_cli(module: str, *args: str, env: dict[str, str] = ENV) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL)


# --- recipe ----------------------------------------------------------------------------------

def test_step_schedule_is_the_papers_with_warmup_and_cosine_option() -> None:
    step = training.learning_rate_schedule("step", 0.1, 100, [50, 75], warmup_steps=10, warmup_learning_rate=0.01)
    values = {s: float(step(s)) for s in (0, 9, 10, 49, 50, 74, 75, 99)}
    assert values == pytest.approx({0: 0.01, 9: 0.01, 10: 0.1, 49: 0.1, 50: 0.01, 74: 0.01, 75: 0.001, 99: 0.001})
    cosine = training.learning_rate_schedule("cosine", 0.1, 100, warmup_steps=10, warmup_learning_rate=0.01)
    assert float(cosine(0)) == pytest.approx(0.01) and float(cosine(10)) == pytest.approx(0.1)
    assert float(cosine(55)) == pytest.approx(0.05, abs=1e-3) and float(cosine(100)) == pytest.approx(0, abs=1e-6)
    with pytest.raises(ValueError, match="`lr_schedule` must be one of"):
        training.learning_rate_schedule("linear", 0.1, 100)


def test_weight_decay_is_l2_on_conv_and_dense_kernels_only() -> None:
    config = training.TrainConfig(**TINY)
    model = training.build_model(config, 10, np.zeros((32, 32, 3)), 1.0)
    training.apply_weight_decay(model, 1e-4)
    kernels = [layer.kernel for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    expected = 0.5e-4 * sum(float(np.sum(np.square(k.numpy()))) for k in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)
    assert len(model.losses) == len(kernels)  # BN gammas/betas and biases are not decayed
    restored = keras.models.model_from_json(model.to_json())
    assert restored.get_layer("conv1_conv").kernel_regularizer.l2 == pytest.approx(0.5e-4)


def test_build_model_options_plain_shortcut_width() -> None:
    base = training.TrainConfig(**TINY)
    names = {layer.name for layer in training.build_model(base, 10, np.zeros((32, 32, 3)), 1.0).layers}
    assert "conv3_block1_0_zeropad" in names and "conv2_block1_add" in names  # option A, CIFAR default
    plain = training.build_model(training.TrainConfig(**{**TINY, "plain": True}), 10, np.zeros((32, 32, 3)), 1.0)
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    option_b = training.build_model(training.TrainConfig(**{**TINY, "shortcut": "B", "width_multiplier": 0.5}), 7,
                                    np.zeros((32, 32, 3)), 1.0)
    assert option_b.get_layer("conv3_block1_0_conv").filters == 16 and option_b.output_shape == (None, 7)
    assert option_b.get_layer("preprocess").input.shape == (None, 32, 32, 3)


BAD_VALUES = [
    ("epochs", 0, "`epochs` must be an integer >= 1"),
    ("global_batch_size", 1.5, "`global_batch_size` must be an integer >= 1"),
    ("learning_rate", -0.1, "`learning_rate` must be a finite number > 0"),
    ("bn_momentum", 1.0, "`bn_momentum` must be in"),
    ("lr_schedule", "linear", "`lr_schedule` must be one of ('step', 'cosine', 'constant')"),
    ("strategy", "gpu", "`strategy` must be one of ('default', 'one_device', 'mirrored', 'multi_worker', 'tpu')"),
    ("mixed_precision", "fp16", "`mixed_precision` must be one of"),
    ("shortcut", "D", "`shortcut` must be one of (None, 'A', 'B', 'C')"),
    ("augment", "mixup", "`augment` must be one of ('auto', 'cifar', 'imagenet', 'none')"),
    ("backup_freq", "hour", "`backup_freq` must be 'epoch' or a positive number of steps"),
    ("lr_decay_epochs", (3.0, 2.0), "`lr_decay_epochs` must increase within"),
    ("fine_tune_epochs", 2, "`fine_tune_epochs` needs `init_weights`"),
    ("lr_decay_epochs", (1.0,), "`lr_decay_epochs` needs lr_schedule='step'"),  # with lr_schedule="constant"
    ("model", "vgg16", "`model` must be one of"),
    ("model", "resnet21", "`depth` of a CIFAR ResNet with basic blocks must be 6n+2"),
    ("recipe", "timm", "`recipe` must be one of ('paper', 'finetune')"),
    ("optimizer", "adam", "`optimizer` must be one of ('sgd', 'adamw')"),
    ("label_smoothing", 1.0, "`label_smoothing` must be in [0, 1)"),
    ("ema_momentum", 1.0, "`ema_momentum` must be in [0, 1)"),
    ("cutmix", 1.5, "`cutmix` must be in [0, 1]"),
    ("random_erasing", 2.0, "`random_erasing` must be in [0, 1]"),
    ("mixup", -0.2, "`mixup` must be a finite number >= 0"),
    ("rand_augment", -1, "`rand_augment` must be an integer >= 0"),
    ("warmup_epochs", 0.5, "Give `warmup_steps` or `warmup_epochs`, not both"),  # with warmup_steps=10
]


def test_bad_values_name_the_setting_and_what_is_allowed() -> None:
    for field, value, message in BAD_VALUES:
        schedule = {"lr_schedule": "constant"} if message.endswith("needs lr_schedule='step'") else {}
        if field == "warmup_epochs":
            schedule = {"warmup_steps": 10}
        with pytest.raises(ValueError) as error:
            training.TrainConfig(**{**TINY, "epochs": 3, **schedule, field: value})
        assert message in str(error.value), field


def test_the_net_its_family_and_input_size_come_from_its_spec() -> None:
    cifar, imagenet = training.TrainConfig(**TINY), training.TrainConfig(model="resnet50")
    assert (cifar.spec.stem, cifar.spec.depth, cifar.spec.width_multiplier, cifar.input_size) == ("cifar", 8, 0.25, 32)
    assert (imagenet.cifar, imagenet.input_size, imagenet.resolved_augment) == (False, 224, "imagenet")
    assert training.TrainConfig(model="resnet50", image_size=160).input_size == 160
    assert cifar.resolved_augment == "cifar"


def test_constant_schedule_keeps_the_rate_after_the_warmup() -> None:
    constant = training.learning_rate_schedule("constant", 0.1, 100, warmup_steps=10, warmup_learning_rate=0.01)
    values = {s: float(constant(s)) for s in (0, 9, 10, 50, 99)}
    assert values == pytest.approx({0: 0.01, 9: 0.01, 10: 0.1, 50: 0.1, 99: 0.1})
    assert float(training.learning_rate_schedule("constant", 0.1, 100, [50])(99)) == pytest.approx(0.1)


# --- fit -------------------------------------------------------------------------------------

def test_fit_trains_and_writes_every_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    result = training.fit(model="resnet8", width_multiplier=0.5, train_examples=2048, eval_examples=1000,
                          global_batch_size=64, epochs=2, model_dir=str(tmp_path))
    hint = cpu.ONEDNN_HINT.format(cpu=cpu.cpu_model())
    assert (hint in capsys.readouterr().out) == (not cpu.onednn_enabled())  # one line, only where oneDNN is off
    assert result.test["accuracy"] > 0.3  # 10 classes: chance is 0.1; seeds give 0.43-0.51 after 2 short epochs
    assert len(result.history["loss"]) == 2 and result.history["loss"][1] < result.history["loss"][0]
    files = set(os.listdir(tmp_path))
    assert files == {"config.json", "metrics.json", "final.keras", "best.keras", "best.json", "history.csv", "logs"}
    with open(tmp_path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"] and "val_accuracy" in rows[0]
    assert any(Path(tmp_path, "logs", "train").iterdir()) and any(Path(tmp_path, "logs", "validation").iterdir())
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["steps_per_epoch"] == 32 and config["num_classes"] == 10 and config["image_size"] == 32
    assert ResNetSpec.from_dict(config["spec"]) == training.TrainConfig(model="resnet8", width_multiplier=0.5).spec
    assert training.read_run_config(result.final_model) == config
    assert training.read_run_config(tmp_path / "other" / "final.keras") is None
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["accuracy"] == pytest.approx(result.test["accuracy"])
    assert saved["class_names"] == list(datasets.FASHION_MNIST_CLASSES) and sum(saved["per_class"]["support"]) == 1000
    confusion = np.array(saved["confusion_matrix"])
    assert confusion.sum() == 1000 and np.trace(confusion) / 1000 == pytest.approx(result.test["accuracy"], abs=1e-6)
    assert config["machine"] == saved["machine"] == cpu.describe()  # where it ran: CPU, features, oneDNN
    model = keras.models.load_model(result.final_model)
    x, y = datasets.load_arrays("fashion_mnist", "test", limit=1000)
    accuracy = float(np.mean(model.predict(x, verbose=0).argmax(axis=1) == y))
    assert accuracy == pytest.approx(result.test["accuracy"], abs=1e-6)  # the saved model takes raw pixels
    assert json.loads((tmp_path / "best.json").read_text())["val_accuracy"] == max(result.history["val_accuracy"])


def test_fit_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    def weights(seed: int, name: str) -> list[np.ndarray]:
        result = training.fit(**TINY, seed=seed, model_dir=str(tmp_path / name))
        return keras.models.load_model(result.final_model).get_weights()

    first, again, other = weights(5, "a"), weights(5, "b"), weights(6, "c")
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, c) for a, c in zip(first, other, strict=True))


def test_nan_loss_stops_training_with_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FloatingPointError, match=r"Training diverged: the loss is (nan|inf).*--learning_rate"):
        training.fit(**TINY, learning_rate=1e38, weight_decay=0.0, model_dir=str(tmp_path))
    assert not (tmp_path / "final.keras").exists()


def test_mixed_precision_and_xla_train_and_restore_the_policy(tmp_path: Path) -> None:
    result = training.fit(**TINY, mixed_precision="mixed_bfloat16", jit_compile=True, model_dir=str(tmp_path))
    assert keras.config.dtype_policy().name == "float32"
    model = keras.models.load_model(result.final_model)
    assert model.get_layer("conv1_conv").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    assert np.isfinite(result.test["loss"])


# --- CLI -------------------------------------------------------------------------------------

ALL_FLAGS = {
    "model": ("resnet14", "resnet14"), "plain": ("true", True), "shortcut": ("C", "C"),
    "width_multiplier": ("0.5", 0.5), "image_size": ("40", 40), "dataset": ("cifar10", "cifar10"),
    "data_dir": ("/d", "/d"), "classes": ("5,6,7", (5, 6, 7)), "examples_per_class": ("100", 100),
    "train_examples": ("1000", 1000), "eval_examples": ("500", 500), "augment": ("imagenet", "imagenet"),
    "validation_split": ("0.2", 0.2), "class_weight": ("balanced", "balanced"), "bad_images": ("fail", "fail"),
    "epochs": ("8", 8), "global_batch_size": ("256", 256), "learning_rate": ("0.2", 0.2),
    "momentum": ("0.8", 0.8), "weight_decay": ("5e-4", 5e-4), "bn_momentum": ("0.99", 0.99),
    "sync_batch_norm": ("false", False), "lr_schedule": ("cosine", "cosine"),
    "lr_decay_epochs": ("2,4.5", (2.0, 4.5)), "warmup_steps": ("400", 400), "warmup_learning_rate": ("0.02", 0.02),
    "warmup_epochs": ("0", 0.0),  # nonzero with --warmup_steps is refused: tested in test_finetune_recipe.py
    "recipe": ("finetune", "finetune"), "optimizer": ("sgd", "sgd"), "label_smoothing": ("0.2", 0.2),
    "rand_augment": ("3", 3), "mixup": ("0.4", 0.4), "cutmix": ("0.5", 0.5), "random_erasing": ("0.1", 0.1),
    "ema": ("false", False), "ema_momentum": ("0.9", 0.9),
    "init_weights": ("/w.keras", "/w.keras"), "freeze": ("conv3", "conv3"), "fine_tune_epochs": ("2", 2),
    "fine_tune_stages": ("2", 2), "fine_tune_learning_rate": ("0.003", 0.003), "model_dir": ("/m", "/m"),
    "strategy": ("tpu", "tpu"), "logical_cpus": ("2", 2), "tpu": ("grpc://10.0.0.1:8470", "grpc://10.0.0.1:8470"),
    "mixed_precision": ("mixed_float16", "mixed_float16"), "jit_compile": ("true", True), "seed": ("7", 7),
    "backup_freq": ("50", 50),
}


def test_every_flag_maps_to_its_config_field() -> None:
    fields = {f.name for f in dataclasses.fields(training.TrainConfig)}
    assert set(ALL_FLAGS) == fields
    config = cli.parse(["train", *(f"--{name}={text}" for name, (text, _) in ALL_FLAGS.items())])
    for name, (_, value) in ALL_FLAGS.items():
        assert getattr(config, name) == value, name
    assert cli.parse(["train"]) == training.TrainConfig()
    assert cli.parse(["train", "--backup_freq=epoch"]).backup_freq == "epoch"


def test_published_init_weights_must_fit_the_net() -> None:
    with pytest.raises(ValueError, match=r"`init_weights`: No published weights 'timm' exist for resnet14 .* "
                                         r"weights that fit resnet14: none"):
        cli.parse(["train", "--model=resnet14", "--init_weights=timm"])
    assert cli.parse(["train", "--model=resnet50d", "--init_weights=timm"]).init_weights == "timm"


def test_bad_flags_are_refused_with_the_flag_and_allowed_values() -> None:
    for args, message in [
        (["--strategy=gpu"], "flag --strategy=gpu: value should be one of "
                             "<default|one_device|mirrored|multi_worker|tpu>"),
        (["--epochs=0"], "flag --epochs=0: 0 is not a positive integer"),
        (["--classes=a,b"], "--classes must be a comma-separated list of ints"),
        (["--backup_freq=often"], "--backup_freq must be 'epoch' or a number of steps"),
        (["--epochs=2", "--lr_decay_epochs=3"], "`lr_decay_epochs` must increase within (0, epochs=2]"),
    ]:
        with pytest.raises((flags.Error, ValueError)) as error:
            cli.parse(["train", *args])
        assert message in str(error.value), args


BAD_FLAG_SCRIPT = """
import sys
from absl import flags
from keras_resnet.training import cli
try:
    cli.parse(["train", "--epochs=0"])
except flags.Error as err:
    print(err)
print(sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""


@functools.cache  # one fresh process answers both tests below
def _bad_flag_in_a_fresh_process() -> tuple[str, ...]:
    done = subprocess.run([sys.executable, "-c", BAD_FLAG_SCRIPT], capture_output=True, text=True, env=ENV,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    return tuple(done.stdout.splitlines())


@pytest.mark.subprocess
def test_cli_refuses_a_bad_flag_in_one_line() -> None:
    assert _bad_flag_in_a_fresh_process()[0] == "flag --epochs=0: 0 is not a positive integer"
    failed = run_cli("keras_resnet.training", "--model=resnet21")
    assert failed.returncode == 1 and failed.stderr.strip().splitlines()[-1] == (
        "error: `depth` of a CIFAR ResNet with basic blocks must be 6n+2 (n >= 1, e.g. 8, 14, ...); received "
        "depth=21")


@pytest.mark.subprocess
def test_cli_refuses_a_bad_flag_before_importing_tensorflow() -> None:
    assert _bad_flag_in_a_fresh_process()[1] == "[]"


@pytest.mark.subprocess
def test_cli_help_documents_every_flag() -> None:
    done = run_cli("keras_resnet.training", "--help")  # absl exits with 1 after --help
    assert "python -m keras_resnet.training" in done.stdout
    for name in [*ALL_FLAGS, "verbose"]:
        assert f"--{name}" in done.stdout or f"--[no]{name}" in done.stdout, name


NATIVE_LOG = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|cuInit|cuda_", re.MULTILINE)  # TensorFlow's C++ logs


@pytest.mark.subprocess
def test_cli_trains_quietly_with_one_line_per_epoch_and_one_per_result_file(tmp_path: Path) -> None:
    native = {k: v for k, v in ENV.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES")}
    done = run_cli("keras_resnet.training", "--model=resnet8", "--width_multiplier=0.25", "--shortcut=B",
                   "--train_examples=192", "--eval_examples=64", "--global_batch_size=32", "--epochs=2",
                   "--augment=imagenet", "--lr_schedule=cosine", "--warmup_steps=2", "--seed=1",
                   "--strategy=one_device", "--backup_freq=4", f"--model_dir={tmp_path}", env=native)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not NATIVE_LOG.search(done.stderr), done.stderr[-3000:]
    epoch_lines = [line for line in done.stdout.splitlines() if line.startswith("6/6 - ")]
    assert len(epoch_lines) == 2 and "\x08" not in done.stdout and "\r" not in done.stdout
    lines = done.stdout.splitlines()
    written = lines[-6:]  # one line per result file, last
    assert [line.rsplit(": ", 1)[1] for line in written] == [
        str(tmp_path / name) for name in ("final.keras", "best.keras", "metrics.json", "history.csv", "config.json",
                                          "logs")]
    assert lines.index(next(line for line in lines if line.startswith("test accuracy: "))) < len(lines) - 6
    assert "confusion matrix (rows: true class, columns: predicted):" in lines
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["shortcut"], config["augment"], config["lr_schedule"], config["backup_freq"]) == (
        "B", "imagenet", "cosine", 4)
    assert "conv3_block1_0_conv" in {layer.name for layer in keras.models.load_model(tmp_path / "final.keras").layers}
    # The command line turns oneDNN on unless the environment chose (keras_resnet.cpu.prefer_onednn).
    assert config["machine"]["onednn"] == (ENV.get("TF_ENABLE_ONEDNN_OPTS", "1").lower() in ("1", "true"))
    failed = run_cli("keras_resnet.training", "--dataset=no_such_dataset_xyz", "--mixed_precision=mixed_bfloat16",
                     f"--model_dir={tmp_path / 'x'}", "--verbose", env=native)
    assert failed.returncode == 1 and "error: `dataset` must be" in failed.stderr
    assert NATIVE_LOG.search(failed.stderr)  # --verbose: TensorFlow's own lines too
    assert (cpu.BF16_NOTE.format(cpu=cpu.cpu_model()) in failed.stdout) == (not cpu.bf16_native())


@pytest.mark.subprocess
def test_sigkill_mid_epoch_then_rerun_resumes_from_the_last_checkpoint(tmp_path: Path) -> None:
    """Kill -9 during training, rerun the same command: it resumes, ends with all epochs and a loadable model."""
    steps, epochs = 20, 3
    args = ["-m", "keras_resnet.training", "--model=resnet8", "--width_multiplier=0.25", f"--epochs={epochs}",
            f"--train_examples={steps * 16}", "--global_batch_size=16", "--eval_examples=32", "--backup_freq=3",
            f"--model_dir={tmp_path}"]
    metadata = tmp_path / "backup" / "train" / "training_metadata.json"

    def saved_mid_epoch() -> bool:  # a step-level checkpoint after the first epoch
        try:
            state = json.loads(metadata.read_text())
        except (OSError, ValueError):
            return False
        return state["epoch"] >= 1 and state["batch"] > 0

    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=ENV, stdin=subprocess.DEVNULL)
    try:
        while not saved_mid_epoch():
            assert process.poll() is None, "training ended before being killed"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert not (tmp_path / "final.keras").exists()

    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=ENV, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Resuming from the checkpoint in {tmp_path / 'backup'}" in done.stdout
    epoch_lines = [line for line in done.stdout.splitlines() if line.startswith(f"{steps}/{steps} - ")]
    assert 1 <= len(epoch_lines) < epochs  # only the epochs not finished before the kill
    with open(tmp_path / "history.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == [str(e) for e in range(epochs)]
    model = keras.models.load_model(tmp_path / "final.keras")
    # A fresh start or an epoch-level resume would end after exactly epochs * steps updates; resuming from a
    # mid-epoch checkpoint keeps the updates made before it, then redoes that epoch in full.
    assert epochs * steps < int(model.optimizer.iterations) <= (epochs + 1) * steps
    assert not (tmp_path / "backup").exists()
