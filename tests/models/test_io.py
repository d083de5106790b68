"""keras_resnet.io: atomic files and folders (used by training, evaluation, the studies and the export)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from keras_resnet import io


def test_atomic_path_replaces_in_one_step_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    target.write_text("old")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        Path(tmp).write_text("partial")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["model.keras"]
    io.write_json(target, {"new": 1})
    assert json.loads(target.read_text()) == {"new": 1} and os.listdir(tmp_path) == ["model.keras"]


def test_atomic_dir_keeps_old_outputs_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with io.atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), io.atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("new")
        raise RuntimeError
    assert (out / "a.txt").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_replace_dir_swaps_a_complete_folder_in(tmp_path: Path) -> None:
    destination, staging = tmp_path / "out", tmp_path / ".out.partial"
    for folder, text in ((destination, "old"), (staging, "new")):
        folder.mkdir()
        (folder / "a.txt").write_text(text)
    io.replace_dir(staging, destination)
    assert (destination / "a.txt").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out"]
