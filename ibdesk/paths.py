"""Where ibdesk keeps its data. Import-light on purpose (platformdirs only): the window
reads its start-up snapshot from here before settings, pydantic or the store are loaded."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("ibdesk", appauthor=False))


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """`--home` beats `IBDESK_HOME` beats the platform's user data dir."""
    if home:
        return Path(home).expanduser().resolve()
    env = os.environ.get("IBDESK_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return default_home()


def sandbox_home(home: str | os.PathLike[str] | None = None) -> Path:
    """Sandbox mode's own folder: `--home` itself, else `sandbox` in the usual one."""
    if home:
        return Path(home).expanduser().resolve()
    return resolve_home() / "sandbox"


__all__ = ["default_home", "resolve_home", "sandbox_home"]
