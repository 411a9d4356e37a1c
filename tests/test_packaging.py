"""The packaging files agree with each other and with the code."""

from __future__ import annotations

import tomllib
from pathlib import Path

import ibdesk

ROOT = Path(__file__).resolve().parent.parent


def _toml(name: str) -> dict:
    with open(ROOT / name, "rb") as fh:
        return tomllib.load(fh)


def test_briefcase_runtime_list_matches_pyproject() -> None:
    ours = _toml("briefcase.toml")["debian"]["runtime"]
    app = _toml("pyproject.toml")["tool"]["briefcase"]["app"]["ibdesk"]
    assert app["linux"]["system"]["debian"]["system_runtime_requires"] == ours


def test_versions_and_requirements_agree() -> None:
    py = _toml("pyproject.toml")
    assert py["project"]["version"] == py["tool"]["briefcase"]["version"] == ibdesk.__version__
    assert py["tool"]["briefcase"]["app"]["ibdesk"]["requires"] == py["project"]["dependencies"]
    assert py["project"]["scripts"]["ibdesk"] == "ibdesk.cli:main"
    assert py["project"]["requires-python"] == ">=3.11"


def test_briefcase_resources_exist() -> None:
    py = _toml("pyproject.toml")["tool"]["briefcase"]
    assert (ROOT / py["license"]["file"]).is_file()
    icon = py["app"]["ibdesk"]["icon"]
    assert list(ROOT.glob(icon + "*.png")), "the app icon is missing"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 .ci/dev.py test" in readme
    assert "python3 .ci/dev.py run" in readme
    assert ci.strip().splitlines()[-1] == "exec python3 .ci/dev.py test"
