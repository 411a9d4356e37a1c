"""Packages whose names load their module on first use (PEP 562).

`ibdesk.sandbox` and `ibdesk.store` re-export their main classes for callers, yet a
light submodule of either (the sandbox's catalogue, the store's sqlite3 listing) must
be importable without the package loading aiohttp or SQLAlchemy first.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def module_getattr(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package`: name → the submodule defining it."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # the next use is a plain attribute
        return value

    return __getattr__


__all__ = ["module_getattr"]
