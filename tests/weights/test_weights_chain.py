"""One chain: named weights served locally -> --init_weights fine-tuning on a folder of images -> python -m export
-> MediaPipe's ImageClassifier on the uint8 file agrees with the LiteRT interpreter, no --mean/--std typed.

Small on purpose: a ResNet-18 at 64x64, a few steps on 40 crops of scikit-image photos. The weights are random
(written by the test as torchvision's ResNet-18 file); the chain, not the accuracy, is under test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import tensorflow as tf
from export_support import run_cli
from PIL import Image
from weights_support import Server, state_dict

import keras_resnet as kr
from export import litert_check
from keras_resnet import evaluate, training
from keras_resnet import weights_catalog as catalog
from keras_resnet.transform import Transform

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
MEDIAPIPE_PYTHON = ROOT / ".venv-mediapipe" / "bin" / "python"
SIZE = 64
CLASSIFY = """
import json, sys
import numpy as np
import mediapipe as mp
from mediapipe.tasks import python as tasks
from mediapipe.tasks.python import vision

options = vision.ImageClassifierOptions(base_options=tasks.BaseOptions(model_asset_path=sys.argv[1]), max_results=1)
images = np.load(sys.argv[2])["images"]
with vision.ImageClassifier.create_from_options(options) as classifier:
    best = [classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
            .classifications[0].categories[0].index for image in images]
json.dump(best, open(sys.argv[3], "w"))
"""


def image_folder(root: Path) -> Path:
    """Two classes of 20 crops each (of differing sizes) from two scikit-image photos, as PNG files."""
    rng = np.random.default_rng(0)
    for name in ("chelsea", "coffee"):
        photo = getattr(skimage.data, name)()
        (root / name).mkdir(parents=True)
        for i in range(20):
            side = int(rng.integers(100, 200))
            top, left = (int(rng.integers(0, photo.shape[k] - side)) for k in (0, 1))
            Image.fromarray(photo[top:top + side, left:left + side]).save(root / name / f"{i:02d}.png")
    return root


@pytest.fixture
def served_weights(tmp_path, monkeypatch):
    from safetensors.numpy import save

    blob = save(state_dict(kr.ResNet18(weights=None)))
    digest = hashlib.sha256(blob).hexdigest()[:8]
    server = Server()
    server.routes[f"/resnet18-{digest}.safetensors"] = (200, blob, None)
    name = "torchvision:resnet18.IMAGENET1K_V1"
    entry = dataclasses.replace(catalog.BY_NAME[name], url=f"{server.url}/resnet18-{digest}.safetensors",
                                digest=digest)
    monkeypatch.setattr(catalog, "ENTRIES", tuple(entry if e.name == name else e for e in catalog.ENTRIES))
    monkeypatch.setattr(catalog, "BY_NAME", {**catalog.BY_NAME, name: entry})
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    yield entry
    server.stop()


@pytest.mark.subprocess
def test_named_weights_fine_tuned_exported_and_classified_by_mediapipe(tmp_path, served_weights, monkeypatch):
    assert MEDIAPIPE_PYTHON.is_file(), f"{MEDIAPIPE_PYTHON} missing: run `bash .ci/setup` (it makes .venv-mediapipe)"
    folder = image_folder(tmp_path / "images")
    run = tmp_path / "run"
    training.fit(model="resnet18", dataset=str(folder), init_weights="torchvision", image_size=SIZE, epochs=1,
                 global_batch_size=8, learning_rate=0.01, model_dir=str(run))
    config = json.loads((run / "config.json").read_text())
    transform = served_weights.transform
    assert Transform.from_dict(config["transform"]) == transform  # the weights' transform travels with the run

    used = []  # the transforms whose resize and crop evaluation's pipeline traces
    resize_crop = Transform.resize_crop

    @tf.autograph.experimental.do_not_convert
    def recorded(self: Transform, *args: object) -> tf.Tensor:
        used.append(self)
        return resize_crop(self, *args)

    with monkeypatch.context() as patch:
        patch.setattr(Transform, "resize_crop", recorded)
        result = evaluate.evaluate(str(run / "final.keras"), dataset=str(folder), fold_batchnorm=False)
    assert used == [transform] and result["examples"] == 4  # read back from the run's config.json

    out = tmp_path / "export"
    exported = run_cli(f"--model={run / 'final.keras'}", f"--output_dir={out}", f"--dataset={folder}",
                       "--formats=tflite", "--variants=uint8", "--calibration_steps=8", "--latency_runs=1",
                       "--threads=1", "--top_k=2")  # python -m export's flags, in this process
    assert exported == 0
    report = json.loads((out / "report.json").read_text())
    assert Transform.from_dict(report["preprocessing"]["transform"]) == transform  # image_bytes: its resize + crop
    uint8 = next((out / "tflite").glob("*_uint8.tflite"))

    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
    pixels = np.stack([np.clip(np.round(transform.resize_crop(tf.constant(p), SIZE)), 0, 255) for p in photos])
    np.savez(tmp_path / "images.npz", images=pixels.astype(np.uint8))
    ran = subprocess.run([str(MEDIAPIPE_PYTHON), "-c", CLASSIFY, str(uint8), str(tmp_path / "images.npz"),
                          str(tmp_path / "mediapipe.json")], capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr[-3000:]
    mediapipe = json.loads((tmp_path / "mediapipe.json").read_text())
    litert = litert_check.predict(uint8, pixels.astype(np.float32), 1).argmax(axis=1)
    assert mediapipe == litert.tolist()
