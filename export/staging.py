"""Write the output folder atomically: all or nothing.

Everything is written to a hidden temporary folder beside the destination
(same filesystem) and renamed into place only once complete. An existing
destination is refused unless ``overwrite``; it is then swapped out in two
renames and deleted. On any failure the temporary folder (and any parent
folders created for it) is removed, so nothing is ever half-written.

A process killed outright (``kill -9``, power loss) cannot clean up: its
temporary folders carry its process id in their names
(``.<name>.partial-<pid>-*``, ``.<name>.old-<pid>-*``), and the next export to
the same destination removes those whose process no longer runs on this machine
(one warning line each).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from export.errors import ExportError

log = logging.getLogger(__name__)


def check_destination(output_dir: Path, overwrite: bool) -> None:
    """Refuse an existing ``output_dir`` unless ``overwrite``, anything that is not a folder, and a place
    where no folder can be created (probed with a temporary folder, removed at once)."""
    if output_dir.exists() and not overwrite:
        raise ExportError("output_dir", f"{output_dir} already exists; pass overwrite=True (--overwrite) to replace it")
    if output_dir.exists() and not output_dir.is_dir():
        raise ExportError("output_dir", f"{output_dir} exists and is not a folder")
    existing = output_dir.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ExportError("output_dir", f"cannot create {output_dir}: {existing} is not a folder")
    try:
        Path(tempfile.mkdtemp(prefix=".export-probe-", dir=existing)).rmdir()
    except OSError as exc:
        raise ExportError("output_dir", f"cannot create {output_dir}: {existing} is not writable "
                          f"({exc.strerror or exc})") from exc


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(output_dir: Path) -> list[Path]:
    """Remove the temporary folders of earlier exports to ``output_dir`` whose process is gone; return them."""
    pattern = re.compile(rf"^\.{re.escape(output_dir.name)}\.(partial|old)-(\d+)-")
    removed = []
    if not output_dir.parent.is_dir():
        return removed
    for folder in output_dir.parent.iterdir():
        match = pattern.match(folder.name)
        if match and folder.is_dir() and not _running(int(match.group(2))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


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
        for folder in remove_stale(output_dir):
            log.warning("removed %s, left behind by a killed export to %s", folder, output_dir)
        staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.partial-{os.getpid()}-", dir=output_dir.parent))
    except OSError as exc:
        _remove_empty(created)
        raise ExportError("output_dir", f"cannot write to {output_dir.parent}: {exc}") from exc
    try:
        staging.chmod(0o755)  # mkdtemp's 0o700 would hide the export from other users (e.g. a server)
        yield staging
        check_destination(output_dir, overwrite)  # the destination may have appeared meanwhile
        from keras_resnet.io import replace_dir  # here: the CLI checks its flags before keras_resnet imports TF

        replace_dir(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        raise
