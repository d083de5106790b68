"""Write the output folder atomically: all or nothing.

Everything is written to a hidden temporary folder beside the destination
(same filesystem) and renamed into place only once complete. An existing
destination is refused unless ``overwrite``; it is then swapped out in two
renames and deleted. On any failure the temporary folder (and any parent
folders created for it) is removed, so nothing is ever half-written.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from export.errors import ExportError
from keras_resnet.io import replace_dir


def check_destination(output_dir: Path, overwrite: bool) -> None:
    """Refuse an existing ``output_dir`` unless ``overwrite``, and anything that is not a folder."""
    if output_dir.exists() and not overwrite:
        raise ExportError("output_dir", f"{output_dir} already exists; pass overwrite=True (--overwrite) to replace it")
    if output_dir.exists() and not output_dir.is_dir():
        raise ExportError("output_dir", f"{output_dir} exists and is not a folder")


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first; a folder that is not empty stays
        with contextlib.suppress(OSError):
            folder.rmdir()


def _missing_ancestors(folder: Path) -> list[Path]:
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


@contextlib.contextmanager
def staged(output_dir: str | Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``output_dir`` when the block succeeds."""
    output_dir = Path(output_dir).absolute()
    check_destination(output_dir, overwrite)
    created = _missing_ancestors(output_dir.parent)
    try:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.partial-", dir=output_dir.parent))
    except OSError as exc:
        _remove_empty(created)
        raise ExportError("output_dir", f"cannot write to {output_dir.parent}: {exc}") from exc
    try:
        staging.chmod(0o755)  # mkdtemp's 0o700 would hide the export from other users (e.g. a server)
        yield staging
        check_destination(output_dir, overwrite)  # the destination may have appeared meanwhile
        replace_dir(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        raise
