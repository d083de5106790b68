"""Shared test setup: quiet TensorFlow, deterministic seeds, cheap garbage collection."""

import collections
import gc
import os
from collections.abc import Generator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

from keras_resnet import cpu  # noqa: E402


def onednn_missing() -> bool:
    """Whether this process's Keras runs TensorFlow without oneDNN's kernels (no NCHW CPU convolution)."""
    return keras.backend.backend() == "tensorflow" and cpu.channels_first_unsupported()


# The node ids of the ``onednn`` tests this session left out (see below); ``test_cpu.py`` runs exactly these.
MOVED_TO_ONEDNN = pytest.StashKey[list[str]]()


@pytest.hookimpl(trylast=True)  # after -k/-m: only the tests this session would have run are moved
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the ``onednn`` tests to a oneDNN process where this one lacks the kernels (``test_cpu.py`` runs
    them there, so they are never skipped); order the test files: those with ``slow`` tests first, then the
    others, each group by its number of tests, most first (so that, one file per xdist worker at a
    time, the long files do not end the run on one worker alone)."""
    config.stash[MOVED_TO_ONEDNN] = []
    if onednn_missing():
        moved = [item for item in items if item.get_closest_marker("onednn")]
        if moved:
            config.stash[MOVED_TO_ONEDNN] = [item.nodeid for item in moved]
            config.hook.pytest_deselected(items=moved)
            items[:] = [item for item in items if not item.get_closest_marker("onednn")]
    counts = collections.Counter(item.path for item in items)
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (item.path not in slow, -counts[item.path]))  # stable: each file's own order is kept


def _freeze_survivors() -> None:
    """Collect, then move every surviving object out of the garbage collector's sight (``gc.freeze``).

    Each test's ``clear_session`` runs a full collection, whose cost grows with the live objects it walks.
    Survivors at these points are long-lived: modules imported by collection or by a test file (TensorFlow,
    Keras, torch), caches, and traced TensorFlow graphs that TensorFlow's C++ side keeps alive; the module-scoped
    fixtures of the file that just ended are already released. Without this, every test of a worker's last
    files walked all of them again."""
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session: pytest.Session) -> None:
    _freeze_survivors()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    yield
    if nextitem is None or nextitem.module is not item.module:  # a test file ended
        _freeze_survivors()


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()
