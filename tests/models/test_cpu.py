"""The CPU and TensorFlow's oneDNN state: what is reported, what the command lines choose, and channels_first
both where TensorFlow has its NCHW kernels and where it has not."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MOVED_TO_ONEDNN, onednn_missing

from keras_resnet import cpu

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow", **env}
    return subprocess.run([sys.executable, "-c", code], env=environ, cwd=ROOT, capture_output=True, text=True)


def test_features_and_oneDNN_default_follow_proc_cpuinfo():
    flags = set(Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0].split())
    assert cpu.features() == {name: name in flags for name in cpu.FEATURES}
    assert cpu.onednn_by_default() == bool(flags & set(cpu.ONEDNN_DEFAULT_FEATURES))
    assert re.fullmatch(r"CPU .+; features: .+; TensorFlow oneDNN (on|off) \(.+\)", cpu.summary())


@pytest.mark.subprocess
@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("False", False)])
def test_the_variable_decides_and_tensorflow_agrees(value, expected):
    assert cpu.onednn_rule({cpu.ONEDNN_ENV: value}) is expected
    done = _python("import tensorflow\nfrom keras_resnet import cpu\nprint(cpu.onednn_enabled())",
                   **{cpu.ONEDNN_ENV: value})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(expected)


def test_prefer_onednn_keeps_a_users_setting():
    environ = {cpu.ONEDNN_ENV: "0"}
    assert not cpu.prefer_onednn(environ) and environ[cpu.ONEDNN_ENV] == "0"
    environ = {}
    set_it = cpu.prefer_onednn(environ)
    assert set_it == ("tensorflow" not in sys.modules)  # too late once TensorFlow is loaded: then it sets nothing
    assert environ == ({cpu.ONEDNN_ENV: "1"} if set_it else {})


@pytest.mark.subprocess
def test_the_module_reports_without_tensorflow():
    """``python -m keras_resnet.cpu`` on a Python without TensorFlow (as .ci/run's first line) gives the rule."""
    code = ("import runpy, sys\nsys.modules['tensorflow'] = None  # import tensorflow now raises ImportError\n"
            "runpy.run_module('keras_resnet.cpu', run_name='__main__')")
    done = _python(code, **{cpu.ONEDNN_ENV: "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.fullmatch(r"CPU .+; features: .+; TensorFlow oneDNN on \(TF_ENABLE_ONEDNN_OPTS=1\)\n", done.stdout)


@pytest.mark.subprocess
def test_command_lines_turn_oneDNN_on_unless_the_user_chose():
    """``python -m keras_resnet.training`` (as export, evaluate and experiments) sets the variable first."""
    code = ("import runpy, sys\nsys.argv = ['x', '--helpshort']\n"
            "try:\n    runpy.run_module('keras_resnet.training', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "import os\nprint('VALUE', os.environ.get('TF_ENABLE_ONEDNN_OPTS'))")
    env = {k: v for k, v in os.environ.items() if k != cpu.ONEDNN_ENV}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert "VALUE 1" in done.stdout, done.stderr[-2000:]
    done = _python(code, **{cpu.ONEDNN_ENV: "0"})
    assert "VALUE 0" in done.stdout, done.stderr[-2000:]


@pytest.mark.subprocess
def test_channels_first_without_oneDNN_is_one_line_of_ours():
    done = _python("import keras, keras_resnet as kr\nkeras.config.set_image_data_format('channels_first')\n"
                   "try:\n    kr.ResNet20()\nexcept ValueError as err:\n    print('ERROR', err)",
                   **{cpu.ONEDNN_ENV: "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("ERROR channels_first needs TensorFlow's oneDNN CPU kernels")
    assert "TF_ENABLE_ONEDNN_OPTS=1" in line and "channels_last" in line and cpu.cpu_model() in line


@pytest.mark.slow
@pytest.mark.subprocess
def test_onednn_tests_pass_in_a_oneDNN_process(request: pytest.FixtureRequest):
    """Where this process lacks oneDNN, the ``onednn`` tests were left out of it (conftest): run them here, all
    of this session's in one process. A session that selected none of them (this file alone) runs them all."""
    if not onednn_missing():
        pytest.skip("oneDNN is on in this process: the onednn tests ran in it")
    moved = request.config.stash[MOVED_TO_ONEDNN]
    targets = moved or ["-m", "onednn", "tests"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-q", "-rs", *targets],
                          env={**os.environ, cpu.ONEDNN_ENV: "1"}, cwd=ROOT, capture_output=True, text=True)
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout[-5000:]
    counts = {word: int(number) for number, word in re.findall(r"(\d+) (passed|skipped)", summary)}
    assert counts.get("passed", 0) > 0, summary
    if moved:  # every one of them ran there: none deselected, none missing
        assert counts.get("passed", 0) + counts.get("skipped", 0) == len(moved), (summary, len(moved))
    # The one skip allowed is this machine's own: keras.applications' weights not in the Keras cache (offline).
    skips = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all("downloaded ImageNet weights" in line for line in skips), skips
