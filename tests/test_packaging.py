"""The packaging files agree with each other and with the code."""

from __future__ import annotations

import tomllib

import ibdesk
from tests.helpers import CHECKOUT as ROOT
from tests.helpers import needs_checkout

pytestmark = needs_checkout


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


def test_the_packaged_suite_gets_what_the_tests_import() -> None:
    """`briefcase build --test` installs test_requires: the dev extras less the tools only
    a checkout runs (coverage of the checkout's run, import-linter, ruff and mypy)."""
    py = _toml("pyproject.toml")
    checkout_only = {"pytest-cov", "import-linter", "ruff", "mypy", "types-PyYAML",
                     "types-psutil"}
    wanted = [r for r in py["project"]["optional-dependencies"]["dev"]
              if r.split(">")[0].split("=")[0] not in checkout_only]
    assert py["tool"]["briefcase"]["app"]["ibdesk"]["test_requires"] == wanted
    assert "tests" in py["tool"]["briefcase"]["app"]["ibdesk"]["test_sources"]


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
    commands = [line.strip() for line in ci.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    # the README's test command, first; then only what issue 15 added: the .deb built,
    # installed and smoke-tested against the installed program
    assert commands[2] == "python3 .ci/dev.py test"
    assert 'python3 .ci/dev.py package' in ci and ".ci/smoke.py /usr/bin/ibdesk" in ci
    assert "python3 .ci/dev.py package" in readme


def _pins() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = [line.split("==") for line in lines if line and not line.startswith("#")]
    assert all(len(p) == 2 for p in pins), "constraints.txt holds only exact pins"
    return {canonicalize_name(name): version for name, version in pins}


def test_no_asyncssh_with_known_holes_can_be_installed() -> None:
    """CVE-2023-46445/46446 were fixed in 2.14.1, Terrapin (CVE-2023-48795) in 2.14.2."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    py = _toml("pyproject.toml")
    for requirements in (py["project"]["dependencies"],
                         py["tool"]["briefcase"]["app"]["ibdesk"]["requires"]):
        (spec,) = [Requirement(r).specifier for r in requirements
                   if Requirement(r).name == "asyncssh"]
        assert not spec.contains(Version("2.14.1")) and spec.contains(Version("2.14.2"))
    assert Version(_pins()["asyncssh"]) >= Version("2.14.2")


def test_the_constraints_satisfy_every_requirement() -> None:
    """constraints.txt is what installs and builds use: each of ibdesk's requirements (on
    this platform) is pinned there, to a version the requirement allows."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = _pins()
    py = _toml("pyproject.toml")
    for text in py["project"]["dependencies"] + py["project"]["optional-dependencies"]["dev"]:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"{name}=={pins[name]} does not satisfy {requirement}"
