"""Lazy package exports (PEP 562): a package names its public functions and
classes, but imports the module defining one only when it is first used, so
that command lines can check their flags before TensorFlow is imported."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def exports(package: str, modules: dict[str, tuple[str, ...]], eager: dict[str, Any]
            ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and the lazy names for ``package``, whose
    submodule ``m`` defines the names ``modules[m]``; ``eager`` is the
    package's ``globals()``."""
    module_of = {name: module for module, names in modules.items() for name in names}

    def getattr_(name: str) -> Any:
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module_of[name]}"), name)

    def dir_() -> list[str]:
        return sorted(set(eager) | set(module_of))

    return getattr_, dir_, list(module_of)
