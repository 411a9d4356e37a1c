"""How ibdesk starts itself again, from a checkout and from an installed app bundle."""

from __future__ import annotations

import sys

import pytest

from ibdesk import autostart
from ibdesk.self_command import is_packaged, module_command, self_command

BUNDLE = "/Applications/ibdesk.app/Contents/MacOS/ibdesk"


def test_from_python_it_is_python_dash_m() -> None:
    assert not is_packaged("/usr/bin/python3.11")
    assert self_command("/work/.venv/bin/python") == ["/work/.venv/bin/python", "-m", "ibdesk"]
    assert module_command("ibdesk.sandbox.container_init", "/usr/bin/python3") == (
        ["/usr/bin/python3", "-m", "ibdesk.sandbox.container_init"], {})


@pytest.mark.parametrize("exe", [BUNDLE, "/usr/bin/ibdesk", r"C:\Program Files\ibdesk\ibdesk.exe"])
def test_in_a_bundle_it_is_the_app_itself(exe: str) -> None:
    """Briefcase's stub knows no `-m`: it would hand "-m ibdesk" to ibdesk's command line."""
    assert is_packaged(exe)
    assert self_command(exe) == [exe]
    assert module_command("ibdesk.sandbox.container_init", exe) == (
        [exe], {"BRIEFCASE_MAIN_MODULE": "ibdesk.sandbox.container_init"})


def test_the_login_item_of_a_bundle_with_nothing_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """macOS and Windows put no `ibdesk` on PATH: the login item is the bundle's executable."""
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(sys, "executable", BUNDLE)
    assert autostart.command() == [BUNDLE]
