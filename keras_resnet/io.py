"""Atomic outputs: a reader never sees a half-written file or folder.

A file is written to a temporary name beside it and renamed into place
(:func:`atomic_path`, :func:`write_json`); a folder is filled as a hidden
temporary folder beside it and swapped in with two renames
(:func:`atomic_dir`, :func:`replace_dir`). Standard library only, so command
lines can use it before any heavy import.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path`` (same suffix); on success it
    replaces ``path`` in one rename, so readers never see a partial file."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=suffix)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """``model.save`` to a ``.keras`` file, atomically."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")


def replace_dir(staging: Path, destination: Path) -> None:
    """Make the complete folder ``staging`` (beside ``destination``) become
    ``destination``: an existing one is moved aside (into ``.<name>.old-<pid>-*``,
    so a cleanup can tell a killed process's leftovers), then deleted."""
    if destination.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-{os.getpid()}-", dir=destination.parent))
        destination.rename(old / destination.name)
        staging.rename(destination)
        shutil.rmtree(old)
    else:
        staging.rename(destination)


@contextlib.contextmanager
def atomic_dir(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder next to ``out_dir`` that replaces ``out_dir``
    when the block succeeds, so a reader never sees half of its outputs."""
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes it 0700
        replace_dir(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
