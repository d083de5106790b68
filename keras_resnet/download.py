"""Download a published weights file once, checked, into Keras' cache folder.

As ``keras.utils.get_file`` does, files live in ``$KERAS_HOME/models`` (or
``~/.keras/models``). Hardened beyond it:

* a cached file is checked before every use; a damaged or different one is
  refused and fetched again;
* a download goes to a temporary file beside the target and is renamed into
  place only once it is complete (``Content-Length`` bytes) and its hash
  matches, so no reader ever sees a partial or wrong file;
* every network wait is bounded by :data:`TIMEOUT_SECONDS` (overridable with
  ``$KERAS_RESNET_DOWNLOAD_TIMEOUT``), and any failure is one line naming the
  URL and how to pass a file downloaded elsewhere.

Checks: ``"md5"`` (keras.applications' hashes) or ``"sha256-prefix"`` (the
hex digits torchvision and timm put in their file names, checked as
``torch.hub`` does). Standard library only.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from keras_resnet.io import atomic_path

TIMEOUT_SECONDS = 10.0
CHECKS = ("md5", "sha256-prefix")


class DownloadError(ConnectionError):
    """A published weights file could not be fetched (the message says how to pass one instead)."""


def cache_dir() -> Path:
    """Where downloads are kept: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    root = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(root) / "models"


def timeout() -> float:
    """Seconds any one network wait may take (``$KERAS_RESNET_DOWNLOAD_TIMEOUT`` or :data:`TIMEOUT_SECONDS`)."""
    return float(os.environ.get("KERAS_RESNET_DOWNLOAD_TIMEOUT") or TIMEOUT_SECONDS)


def file_hash(path: str | os.PathLike, check: str) -> str:
    """The file's MD5 or SHA-256, as hex."""
    digest = hashlib.md5() if check == "md5" else hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def matches(path: str | os.PathLike, check: str, expected: str) -> bool:
    """Whether the file's hash is ``expected`` (``md5``) or starts with it (``sha256-prefix``)."""
    if check not in CHECKS:
        raise ValueError(f"`check` must be one of {CHECKS}; received check={check!r}")
    got = file_hash(path, check)
    return got == expected if check == "md5" else got.startswith(expected)


def _copy(origin: str, target: str, seconds: float) -> None:
    """``origin``'s bytes into ``target``; raises ``ValueError`` on a short body."""
    received = 0
    with open(target, "wb") as out, urllib.request.urlopen(origin, timeout=seconds) as src:
        expected = src.headers.get("Content-Length")
        for chunk in iter(lambda: src.read(1 << 20), b""):
            out.write(chunk)
            received += len(chunk)
    if expected is not None and received != int(expected):
        raise ValueError(f"the download stopped after {received} of {expected} bytes")


def fetch(file_name: str, origin: str, check: str, expected: str) -> Path:
    """The cached file ``file_name`` checked against ``expected``; downloaded from ``origin`` if absent or wrong.

    Raises:
        DownloadError: The download failed, was cut short, or its hash is not ``expected``;
            the message names ``origin`` and where a file downloaded elsewhere can go.
    """
    target = cache_dir() / file_name
    if target.is_file() and matches(target, check, expected):
        return target
    seconds = timeout()
    instead = (f"download it elsewhere and pass its path as `weights`, or put it at {target}")
    try:
        with atomic_path(target) as tmp:
            _copy(origin, tmp, seconds)
            if not matches(tmp, check, expected):
                raise ValueError(f"its {check} is {file_hash(tmp, check)}, expected {expected}; refusing it")
    except ValueError as err:
        raise DownloadError(f"Weights from {origin} are damaged or not the published file ({err}): {instead}.") \
            from err
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", None) or err
        raise DownloadError(f"Could not download {origin} ({reason}; offline?): {instead}.") from err
    return target
