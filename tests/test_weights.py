"""weights='imagenet': keras.applications' URLs and hashes, cache, hash check, offline error.

No network here: the download code runs against file:// URLs and a closed
local port, with the cache in a temporary KERAS_HOME.
"""

import os

import numpy as np
import pytest

import keras_resnet as kr
from keras_resnet import weights

tf_keras = pytest.importorskip("tf_keras")


@pytest.fixture
def published(tmp_path, monkeypatch):
    """A 'server' folder with keras.applications-format files for resnet50, and an empty cache."""
    server = tmp_path / "server"
    server.mkdir()
    for top in (True, False):
        ref = tf_keras.applications.ResNet50(weights=None, include_top=top, input_shape=(224, 224, 3))
        ref.save_weights(str(server / weights.file_name("resnet50", top)))
    hashes = {"resnet50": tuple(weights.md5(server / weights.file_name("resnet50", t)) for t in (True, False))}
    monkeypatch.setattr(weights, "BASE_URL", server.as_uri() + "/")
    monkeypatch.setattr(weights, "HASHES", hashes)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return server


def test_published_urls_and_hashes_are_keras_applications():
    assert weights.BASE_URL == "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
    assert weights.file_name("resnet50", False) == "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert weights.HASHES["resnet50"] == ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626")
    assert set(weights.HASHES) == {"resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2"}


def test_imagenet_downloads_verifies_caches_and_loads(published):
    model = kr.ResNet50(weights="imagenet", include_top=False, input_shape=(64, 64, 3))
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


def test_download_with_wrong_hash_is_refused_and_not_cached(published, monkeypatch):
    monkeypatch.setattr(weights, "HASHES", {"resnet50": ("0" * 32, "0" * 32)})
    with pytest.raises(ValueError, match="have MD5 .*refusing the file"):
        kr.ResNet50(weights="imagenet")
    assert not any(weights.cache_dir().iterdir())


def test_corrupted_cached_file_is_refused(published):
    cache = weights.cache_dir()
    cache.mkdir(parents=True)
    (cache / weights.file_name("resnet50", True)).write_bytes(b"not the weights")
    with pytest.raises(ValueError, match="corrupted or not the official one"):
        kr.ResNet50(weights="imagenet")


def test_offline_fails_fast_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(weights, "BASE_URL", "http://127.0.0.1:9/")  # nothing listens there
    timeouts = []
    real_urlopen = weights.urllib.request.urlopen

    def urlopen(url, timeout):  # the real call, recording its deadline (no timing asserted here)
        timeouts.append(timeout)
        return real_urlopen(url, timeout=timeout)

    monkeypatch.setattr(weights.urllib.request, "urlopen", urlopen)
    with pytest.raises(ConnectionError, match=r"pass `weights='/path/to/resnet50_weights_tf_dim_ordering_tf_kernels"):
        kr.ResNet50(weights="imagenet")
    assert timeouts == [weights.TIMEOUT_SECONDS]  # a hanging server cannot block longer than this
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
