"""Checks of a ``.keras`` file that need neither Keras nor TensorFlow: run before anything heavy is imported.

A ``.keras`` file is a zip archive holding ``config.json`` (the model's
serialized config) and the weights. Every layer entry of the config names
the module of its class (``"module": "keras_resnet.layers"``); a class from
outside Keras can only be deserialized if a module the caller names in
``custom_modules`` registers it (the export never imports a module because
a file mentions it); in a process that has imported the module already,
its classes are registered and it need not be named.
"""

from __future__ import annotations

import json
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from export.errors import ExportError

CONFIG = "config.json"


def _classes(config: Any) -> Iterator[tuple[str, str, str]]:
    """``(module, class name, registered name)`` of every serialized object in ``config``."""
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str) and isinstance(config.get("module"), str):
            yield config["module"], config["class_name"], str(config.get("registered_name") or config["class_name"])
        for value in config.values():
            yield from _classes(value)
    elif isinstance(config, list):
        for value in config:
            yield from _classes(value)


def _covered(module: str, custom_modules: Sequence[str]) -> bool:
    """Keras' own, named in ``custom_modules`` (or inside one), or already imported (its classes registered)."""
    return module == "keras" or module.startswith("keras.") or module in sys.modules or any(
        module == name or module.startswith(f"{name}.") for name in custom_modules)


def _config(path: Path) -> Any:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(CONFIG))
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ExportError("model", f"{path} has no readable {CONFIG} ({exc}): not a Keras 3 `.keras` file") from exc


def _refuse(missing: dict[str, list[str]], why: str) -> None:
    if missing:
        modules = ",".join(missing)
        classes = "; ".join(f"{', '.join(names)} from {module}" for module, names in missing.items())
        raise ExportError("custom_modules", f"the model uses layer classes {why} ({classes}); "
                          f"pass --custom_modules={modules}")


def check_registered(path: Path, registered: Callable[[str], bool]) -> None:
    """After the custom modules are imported: every class from outside Keras is registered (``registered(name)``)."""
    missing: dict[str, list[str]] = {}
    for module, name, key in _classes(_config(path)):
        if not (module == "keras" or module.startswith("keras.")) and not registered(key):
            missing.setdefault(module, [])
            if name not in missing[module]:
                missing[module].append(name)
    _refuse(missing, "that no imported module registers")


def check(path: Path, custom_modules: Sequence[str]) -> None:
    """Refuse a missing file, another format than ``.keras``, and classes of modules not in ``custom_modules``."""
    if not path.is_file():
        raise ExportError("model", f"no such file: {path}")
    if path.suffix != ".keras":
        raise ExportError("model", f"unknown model format {path.suffix or path.name!r}: expected a `.keras` file")
    if not zipfile.is_zipfile(path):
        raise ExportError("model", f"{path} is not a Keras 3 `.keras` file (those are zip archives; this is not one)")
    missing: dict[str, list[str]] = {}
    for module, name, _ in _classes(_config(path)):
        if not _covered(module, custom_modules):
            missing.setdefault(module, [])
            if name not in missing[module]:
                missing[module].append(name)
    _refuse(missing, "from modules it does not name")
