"""Named weights: the catalogue against its publishers, name resolution, and the hardened download.

No network here: downloads run against an HTTP server on 127.0.0.1 that the
tests start and stop, serving checkpoints written by the tests, with the
catalogue's URLs and hashes pointed at it; the cache is a temporary KERAS_HOME.
"""

import dataclasses
import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from weights_support import Server, state_dict

import keras_resnet as kr
from keras_resnet import download, specs, weights
from keras_resnet import weights_catalog as catalog

ROOT = Path(__file__).resolve().parents[1]

# torchvision: ResNet{18,34,50,101,152}_Weights in
# https://github.com/pytorch/vision/blob/main/torchvision/models/resnet.py (url, meta "_metrics" acc@1/acc@5,
# "_file_size" in MB, transforms=partial(ImageClassification, crop_size=224[, resize_size=232]); resize_size
# defaults to 256 in torchvision/transforms/_presets.py).
TORCHVISION = {  # name: (file, acc@1, acc@5, _file_size, resize_size, DEFAULT)
    "resnet18.IMAGENET1K_V1": ("resnet18-f37072fd.pth", 69.758, 89.078, 44.661, 256, True),
    "resnet34.IMAGENET1K_V1": ("resnet34-b627a593.pth", 73.314, 91.420, 83.275, 256, True),
    "resnet50.IMAGENET1K_V1": ("resnet50-0676ba61.pth", 76.130, 92.862, 97.781, 256, False),
    "resnet50.IMAGENET1K_V2": ("resnet50-11ad3fa6.pth", 80.858, 95.434, 97.79, 232, True),
    "resnet101.IMAGENET1K_V1": ("resnet101-63fe2227.pth", 77.374, 93.546, 170.511, 256, False),
    "resnet101.IMAGENET1K_V2": ("resnet101-cd907fc2.pth", 81.886, 95.780, 170.53, 232, True),
    "resnet152.IMAGENET1K_V1": ("resnet152-394f9c45.pth", 78.312, 94.046, 230.434, 256, False),
    "resnet152.IMAGENET1K_V2": ("resnet152-f82ba261.pth", 82.284, 96.002, 230.474, 232, True),
}
# timm: URLs and default (first listed) tags from default_cfgs in
# https://github.com/huggingface/pytorch-image-models/blob/main/timm/models/resnet.py; the rows of
# https://github.com/huggingface/pytorch-image-models/blob/main/results/results-imagenet.csv
# (model, img_size, top1, top5, crop_pct, interpolation) at the cfg's input_size and crop_pct.
TIMM_RELEASES = "github.com/{}/pytorch-image-models/releases/download/"
TIMM = {  # model: (url tail, img_size, top1, top5, crop_pct, interpolation, first tag of the model)
    "resnet18.a1_in1k": ("huggingface", "v0.1-rsb-weights/resnet18_a1_0-d63eafa0.pth", 224, 71.504, 90.086, 0.950,
                         "bicubic", True),
    "resnet34.a1_in1k": ("huggingface", "v0.1-rsb-weights/resnet34_a1_0-46f8f793.pth", 224, 76.420, 92.896, 0.950,
                         "bicubic", True),
    "resnet50.a1_in1k": ("rwightman", "v0.1-rsb-weights/resnet50_a1_0-14fe96d1.pth", 224, 80.382, 94.598, 0.950,
                         "bicubic", True),
    "resnet50.a1h_in1k": ("huggingface", "v0.1-rsb-weights/resnet50_a1h2_176-001a1197.pth", 176, 79.264, 94.498,
                          0.900, "bicubic", False),
    "resnet101.a1h_in1k": ("rwightman", "v0.1-rsb-weights/resnet101_a1h-36d3f2aa.pth", 224, 81.950, 95.760, 0.950,
                           "bicubic", True),
    "resnet101.a1_in1k": ("huggingface", "v0.1-rsb-weights/resnet101_a1_0-cdcb52a9.pth", 224, 81.494, 95.164, 0.950,
                          "bicubic", False),
    "resnet152.a1h_in1k": ("rwightman", "v0.1-rsb-weights/resnet152_a1h-dc400468.pth", 224, 82.818, 96.124, 0.950,
                           "bicubic", True),
    "resnet152.a1_in1k": ("huggingface", "v0.1-rsb-weights/resnet152_a1_0-2eee8a7a.pth", 224, 81.998, 95.294, 0.950,
                          "bicubic", False),
    "resnet18d.ra2_in1k": ("rwightman", "v0.1-weights/resnet18d_ra2-48a79e06.pth", 224, 72.296, 90.682, 0.875,
                           "bicubic", True),
    "resnet34d.ra2_in1k": ("rwightman", "v0.1-weights/resnet34d_ra2-f8dcfcaf.pth", 224, 77.108, 93.372, 0.875,
                           "bicubic", True),
    "resnet50d.ra2_in1k": ("rwightman", "v0.1-weights/resnet50d_ra2-464e36ba.pth", 224, 80.546, 95.160, 0.875,
                           "bicubic", True),
    "resnet50d.a1_in1k": ("huggingface", "v0.1-rsb-weights/resnet50d_a1_0-e20cff14.pth", 224, 80.730, 94.678, 0.950,
                          "bicubic", False),
    "resnet101d.ra2_in1k": ("rwightman", "v0.1-weights/resnet101d_ra2-2803ffab.pth", 256, 82.254, 96.070, 0.950,
                            "bicubic", True),
    "resnet152d.ra2_in1k": ("rwightman", "v0.1-weights/resnet152d_ra2-5cac0439.pth", 256, 83.160, 96.370, 0.950,
                            "bicubic", True),
}
# keras.applications: the table of https://keras.io/api/applications/ (Size (MB), Top-1, Top-5) and the MD5s of
# keras/src/applications/resnet.py (WEIGHTS_HASHES) and resnet_v2.py.
KERAS = {"resnet50": (98, 74.9, 92.1), "resnet101": (171, 76.4, 92.8), "resnet152": (232, 76.6, 93.1),
         "resnet50v2": (98, 76.0, 93.0), "resnet101v2": (171, 77.2, 93.8), "resnet152v2": (232, 78.0, 94.2)}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def test_catalogue_is_the_publishers_tables():
    by_source = {s: [e for e in catalog.ENTRIES if e.source == s] for s in catalog.SOURCES}
    assert {s: len(v) for s, v in by_source.items()} == {"torchvision": 8, "timm": 14, "keras": 6}
    for entry in by_source["torchvision"]:
        file, top1, top5, size_mb, resize, default = TORCHVISION[entry.name.split(":")[1]]
        assert (entry.url, entry.top1, entry.top5, entry.file_mb, entry.default) == (
            f"https://download.pytorch.org/models/{file}", top1, top5, size_mb, default)
        assert (entry.check, entry.digest) == ("sha256-prefix", file.split("-")[1][:8])
        t = entry.transform
        assert (t.size, t.resize, t.interpolation, t.channel_order) == (224, resize, "bilinear", "rgb")
        np.testing.assert_allclose(np.array(t.mean) / 255, IMAGENET_MEAN, rtol=1e-12)
        np.testing.assert_allclose(np.array(t.std) / 255, IMAGENET_STD, rtol=1e-12)
    for entry in by_source["timm"]:
        owner, tail, size, top1, top5, crop_pct, interpolation, default = TIMM[entry.name.split(":")[1]]
        assert (entry.url, entry.top1, entry.top5, entry.default, entry.licence) == (
            "https://" + TIMM_RELEASES.format(owner) + tail, top1, top5, default, "Apache-2.0")
        assert entry.digest == tail.rsplit("-", 1)[1][:8]
        t = entry.transform
        assert (t.size, t.resize, t.interpolation) == (size, int(size / crop_pct), interpolation)
        np.testing.assert_allclose(np.array(t.mean) / 255, IMAGENET_MEAN, rtol=1e-12)
    for entry in by_source["keras"]:
        assert (entry.file_mb, entry.top1, entry.top5) == KERAS[entry.net]
        assert entry.url == f"https://storage.googleapis.com/tensorflow/keras-applications/resnet/{entry.net}" \
                            "_weights_tf_dim_ordering_tf_kernels.h5"
        assert entry.transform.channel_order == ("rgb" if entry.net.endswith("v2") else "bgr")
    assert catalog.KERAS_HASHES["resnet50"] == ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626")
    assert len(catalog.BY_NAME) == len(catalog.ENTRIES)
    for entry in catalog.ENTRIES:  # every entry fits one row of the spec table, one default per net and source
        assert specs.variant_name(entry.net, entry.variant) in specs.SPECS
        assert sum(e.default for e in catalog.ENTRIES if (e.source, e.model) == (entry.source, entry.model)) == 1


@pytest.mark.parametrize("net, variant, name, expected", [
    ("resnet50", "v1.5", "torchvision", "torchvision:resnet50.IMAGENET1K_V2"),
    ("resnet50", "v1.5", "torchvision:IMAGENET1K_V1", "torchvision:resnet50.IMAGENET1K_V1"),
    ("resnet50", "v1.5", "timm:resnet50.a1_in1k", "timm:resnet50.a1_in1k"),
    ("resnet50", "v1.5", "timm:a1h_in1k", "timm:resnet50.a1h_in1k"),
    ("resnet101", "v1.5", "timm", "timm:resnet101.a1h_in1k"),
    ("resnet50", "d", "timm", "timm:resnet50d.ra2_in1k"),
    ("resnet18", "v1", "torchvision", "torchvision:resnet18.IMAGENET1K_V1"),
    ("resnet50", "v1", "imagenet", "keras:resnet50"),
    ("resnet152v2", "v1", "keras", "keras:resnet152v2"),
])
def test_names_resolve_per_net_and_variant(net, variant, name, expected):
    spec = specs.SPECS[specs.variant_name(net, variant)]
    assert weights.entry_for(spec, name).name == expected


@pytest.mark.parametrize("build, message", [
    (lambda: kr.ResNet50(weights="torchvision"), r"No published weights 'torchvision' exist for resnet50 .*"
                                                  r"weights that fit resnet50: keras:resnet50\."),
    (lambda: kr.ResNet50(variant="v1.5", weights="timm:ra2_in1k"),
     r"weights that fit resnet50_v1\.5: torchvision:resnet50\.IMAGENET1K_V2, torchvision:resnet50\.IMAGENET1K_V1, "
     r"timm:resnet50\.a1_in1k, timm:resnet50\.a1h_in1k\."),
    (lambda: kr.ResNet18(weights="torchvision", plain=True), r"for a plain net \(resnet18\) .* weights that fit "
                                                            r"resnet18: none \(published weights fit the default"),
    (lambda: kr.ResNet18(weights="torchvision", classes=10), "needs `classes=1000`"),
])
def test_names_that_do_not_fit_fail_in_one_line_naming_those_that_do(build, message):
    with pytest.raises(ValueError, match=message) as info:
        build()
    assert "\n" not in str(info.value)


def test_cli_prints_the_catalogue_and_docs_hold_its_markdown():
    out = subprocess.run([sys.executable, "-m", "keras_resnet.weights"], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    assert out.splitlines()[0].split() == ["name", "net", "variant", "top-1", "top-5", "size", "transform"]
    assert "torchvision:resnet50.IMAGENET1K_V2 (default)" in out and len(out.splitlines()) == 29
    markdown = subprocess.run([sys.executable, "-m", "keras_resnet.weights", "--markdown"], capture_output=True,
                              text=True, check=True, cwd=ROOT).stdout
    assert markdown == weights.format_table(markdown=True)
    assert markdown in (ROOT / "docs" / "weights.md").read_text()  # regenerated, not edited by hand
    defaults = subprocess.run([sys.executable, "-m", "keras_resnet.weights", "--markdown", "--defaults"],
                              capture_output=True, text=True, check=True, cwd=ROOT).stdout.splitlines()[2:]
    assert [row.split(" | ")[0].removeprefix("| ").removesuffix(" (default)") for row in defaults] == [
        e.name for e in catalog.ENTRIES if e.default]
    assert len(defaults) == 21  # 5 torchvision + 10 timm + 6 keras.applications


# --- download, against a local server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def r18():
    """A random ResNet-18 and its state dict as .safetensors bytes (the file served for torchvision's name)."""
    from safetensors.numpy import save

    model = kr.ResNet18(weights=None)
    return model, save(state_dict(model))


@pytest.fixture
def served(r18, tmp_path, monkeypatch):
    """torchvision:resnet18.IMAGENET1K_V1 pointed at the local server, which holds the right file."""
    _, blob = r18
    server = Server()
    digest = hashlib.sha256(blob).hexdigest()[:8]
    path = f"/resnet18-{digest}.safetensors"
    server.routes[path] = (200, blob, None)
    name = "torchvision:resnet18.IMAGENET1K_V1"
    entry = dataclasses.replace(catalog.BY_NAME[name], url=server.url + path, digest=digest)
    monkeypatch.setattr(catalog, "ENTRIES", tuple(entry if e.name == name else e for e in catalog.ENTRIES))
    monkeypatch.setattr(catalog, "BY_NAME", {**catalog.BY_NAME, name: entry})
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("KERAS_RESNET_DOWNLOAD_TIMEOUT", "2")
    yield server, entry, path
    server.stop()


def cache_files() -> list[str]:
    folder = download.cache_dir()
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_named_weights_download_once_check_and_load(r18, served):
    source, _ = r18
    server, entry, path = served
    model = kr.ResNet18(weights="torchvision")
    assert model.transform == entry.transform
    for got, want in zip(model.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert cache_files() == [entry.file_name]
    server.routes.clear()  # second build: from the cache, the server has nothing
    x = np.random.default_rng(0).normal(size=(1, 224, 224, 3)).astype("float32")
    again = kr.ResNet18(weights="torchvision:IMAGENET1K_V1")
    np.testing.assert_array_equal(again.predict(x, verbose=0), source.predict(x, verbose=0))


def test_damaged_cached_file_is_refused_and_fetched_again(r18, served):
    _, blob = r18
    _, entry, _ = served
    download.cache_dir().mkdir(parents=True)
    (download.cache_dir() / entry.file_name).write_bytes(blob[: len(blob) // 2])
    kr.ResNet18(weights="torchvision")
    assert (download.cache_dir() / entry.file_name).read_bytes() == blob


@pytest.mark.parametrize("route, message", [
    ("truncated", r"damaged or not the published file \(the download stopped after \d+ of \d+ bytes\)"),
    ("wrong", r"damaged or not the published file \(its sha256-prefix is [0-9a-f]{64}, expected"),
    ("missing", r"Could not download .* \(HTTP Error 404: Not Found; offline\?\)"),
])
def test_bad_downloads_fail_in_one_line_and_leave_nothing(r18, served, route, message):
    _, blob = r18
    server, entry, path = served
    if route == "truncated":
        server.routes[path] = (200, blob, len(blob) // 3)
    elif route == "wrong":
        server.routes[path] = (200, blob[:-8] + b"\0" * 8, None)
    else:
        server.routes.clear()
    with pytest.raises(download.DownloadError, match=message) as info:
        kr.ResNet18(weights="torchvision")
    text = str(info.value)
    assert "\n" not in text and entry.url in text and "pass its path as `weights`" in text
    assert cache_files() == []  # no partial or temporary file left in the cache


def test_a_server_that_never_answers_fails_within_the_timeout(served, monkeypatch):
    _, entry, _ = served
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/{entry.file_name}"
    entry = dataclasses.replace(entry, url=url)
    monkeypatch.setattr(catalog, "ENTRIES", tuple(entry if e.name == entry.name else e for e in catalog.ENTRIES))
    monkeypatch.setenv("KERAS_RESNET_DOWNLOAD_TIMEOUT", "0.5")
    try:
        with pytest.raises(download.DownloadError, match=rf"Could not download {url} \(timed out; offline\?\)"):
            kr.ResNet18(weights="torchvision")
    finally:
        silent.close()
    assert cache_files() == []


def test_init_weights_by_name_or_file_build_the_transform_into_the_model(r18, served):
    import keras

    from keras_resnet import transfer

    source, _ = r18
    _, entry, _ = served
    backbone = kr.ResNet18(include_top=False, pooling="avg", input_shape=(64, 64, 3))
    transfer.copy_weights(keras.Model(source.inputs, source.get_layer("avg_pool").output), backbone)
    x = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    want = np.asarray(backbone(entry.transform.normalize(x), training=False))
    by_name = transfer.load_init_weights("torchvision", "resnet18", classes=3, image_size=64)
    by_file = transfer.load_init_weights(str(download.cache_dir() / entry.file_name), "resnet18", 3, 64)
    assert by_name.transform == entry.transform and by_file.transform == catalog.PYTORCH_DEFAULT
    for model in (by_name, by_file):  # raw pixels in: the weights' normalisation is the preprocess layer
        features = keras.Model(model.inputs, model.get_layer("avg_pool").output)
        np.testing.assert_allclose(features(x, training=False), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_training_checks_init_weights_names_before_importing_keras():
    code = ("import sys\nfrom keras_resnet.training.config import TrainConfig\n"
            "try:\n    TrainConfig(model='resnet50', init_weights='torchvision')\n"
            "except ValueError as err:\n    print(err)\nprint('keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.startswith("`init_weights`: No published weights 'torchvision' exist for resnet50 ")
    assert "weights that fit resnet50: keras:resnet50." in out and out.endswith("False\n")


# --- keras.applications' files ('imagenet') --------------------------------------------------------------------

@pytest.fixture
def published(tmp_path, monkeypatch):
    """A 'server' folder with keras.applications-format files for resnet50, and an empty cache."""
    tf_keras = pytest.importorskip("tf_keras")
    server = tmp_path / "server"
    server.mkdir()
    for top in (True, False):
        ref = tf_keras.applications.ResNet50(weights=None, include_top=top, input_shape=(224, 224, 3))
        ref.save_weights(str(server / weights.file_name("resnet50", top)))
    hashes = {"resnet50": tuple(download.file_hash(server / weights.file_name("resnet50", t), "md5")
                                for t in (True, False))}
    monkeypatch.setattr(catalog, "KERAS_BASE_URL", server.as_uri() + "/")
    monkeypatch.setattr(catalog, "KERAS_HASHES", hashes)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return server, tf_keras


def test_imagenet_downloads_verifies_caches_and_loads(published):
    published, tf_keras = published
    model = kr.ResNet50(weights="imagenet", include_top=False, input_shape=(64, 64, 3))
    assert model.transform == catalog.BY_NAME["keras:resnet50"].transform
    cached = weights.cache_dir() / weights.file_name("resnet50", False)
    assert cached.is_file()
    ref = tf_keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    ref.load_weights(str(cached))
    x = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(model(x, training=False), ref(x, training=False), atol=1e-4)
    # Second call: served from the cache, even with the "server" gone.
    for f in published.iterdir():
        f.unlink()
    kr.ResNet50(weights="imagenet", include_top=False, input_shape=(64, 64, 3))


def test_offline_fails_fast_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(catalog, "KERAS_BASE_URL", "http://127.0.0.1:9/")  # nothing listens there
    timeouts = []
    real_urlopen = download.urllib.request.urlopen

    def urlopen(url, timeout):  # the real call, recording its deadline (no timing asserted here)
        timeouts.append(timeout)
        return real_urlopen(url, timeout=timeout)

    monkeypatch.setattr(download.urllib.request, "urlopen", urlopen)
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=r"http://127.0.0.1:9/resnet50_weights_tf_dim_ordering_tf_kernels.h5 "
                                              r".*pass its path as `weights`, or put it at"):
        kr.ResNet50(weights="imagenet")
    print(f"offline failure after {time.monotonic() - start:.3f} s")
    assert timeouts == [download.TIMEOUT_SECONDS]  # a hanging server cannot block longer than this
    assert not any((tmp_path / "models").iterdir())  # no partial download left behind


def test_missing_and_unreadable_weight_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="`weights` file not found"):
        kr.ResNet20(weights=str(tmp_path / "nope.h5"))
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(os.urandom(256))
    with pytest.raises(ValueError, match="not a readable weights file"):
        kr.ResNet20(weights=str(garbage))
    text = tmp_path / "weights.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="must end in"):
        kr.ResNet20(weights=str(text))
