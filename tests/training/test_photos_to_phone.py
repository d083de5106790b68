"""From a folder of photos to a phone, with the two commands the README gives: ``python -m keras_resnet.training``
(the fine-tuning recipe) on a photo folder of mixed sizes and formats, then ``python -m export``'s camera-ready
uint8 LiteRT file, which MediaPipe Tasks' ``ImageClassifier`` loads as written and runs on the folder's photos.
Both commands run in this process, their flags parsed as on the command line (their fresh-process behaviour is
tested in test_training.py and test_export_errors.py).

MediaPipe runs in its own venv (see test_export_clients.py). A tiny net, one epoch: the test checks the chain
works end to end, not the accuracy.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from export_support import run_cli
from PIL import Image
from training_support import run_training_cli

from keras_resnet import datasets
from keras_resnet.experiments import finetune

ROOT = Path(__file__).resolve().parents[2]
MEDIAPIPE_PYTHON = Path(os.environ.get("MEDIAPIPE_PYTHON", ROOT / ".venv-mediapipe" / "bin" / "python"))
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not os.path.isdir(datasets.FASHION_MNIST_DIR),
                                reason="Debian's dataset-fashion-mnist is not installed")]

CLASSIFY = """
import json, sys
import mediapipe as mp
from mediapipe.tasks import python as tasks
from mediapipe.tasks.python import vision
options = vision.ImageClassifierOptions(base_options=tasks.BaseOptions(model_asset_path=sys.argv[1]), max_results=1)
with vision.ImageClassifier.create_from_options(options) as classifier:
    print(json.dumps([classifier.classify(mp.Image.create_from_file(path)).classifications[0].categories[0]
                      .category_name for path in sys.argv[2:]]))
"""


@pytest.mark.subprocess
def test_photo_folder_to_a_mediapipe_ready_uint8_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert MEDIAPIPE_PYTHON.is_file(), f"{MEDIAPIPE_PYTHON} missing: run `bash .ci/setup` (it makes .venv-mediapipe)"
    photos = finetune.write_photo_folder(tmp_path / "photos", per_class=16, test_per_class=4)
    run, out = tmp_path / "run", tmp_path / "export"
    trained = run_training_cli(f"--dataset={photos}", "--recipe=finetune", "--model=resnet8",
                               "--width_multiplier=0.25", "--epochs=1", "--global_batch_size=16",
                               f"--model_dir={run}")
    captured = capsys.readouterr()
    assert trained == 0, captured.err[-3000:]
    assert f"final model (EMA weights): {run / 'final.keras'}" in captured.out.splitlines()
    exported = run_cli(f"--model={run / 'final.keras'}", f"--dataset={photos}", "--formats=tflite",
                       "--variants=uint8", "--custom_modules=keras_resnet.layers", f"--output_dir={out}",
                       "--calibration_steps=8", "--latency_runs=1", "--threads=1")
    assert exported == 0, capsys.readouterr().err[-3000:]
    [uint8] = (out / "tflite").glob("*_uint8.tflite")
    names = sorted(p.name for p in (photos / "train").iterdir())
    samples = []  # one photo of each class as a phone app would hand it over: RGB, its own size
    for name in names:
        photo = next((photos / "train" / name).iterdir())
        samples.append(tmp_path / f"{name}.png")
        Image.open(photo).convert("RGB").save(samples[-1])
    script = tmp_path / "classify.py"
    script.write_text(CLASSIFY)
    classified = subprocess.run([str(MEDIAPIPE_PYTHON), str(script), str(uint8), *map(str, samples)],
                                capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert classified.returncode == 0, classified.stderr[-3000:]
    got = json.loads(classified.stdout.splitlines()[-1])
    assert len(got) == len(names) and set(got) <= set(names)  # the folder's class names, embedded in the file
