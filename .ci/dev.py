#!/usr/bin/env python3
"""Set up a checkout from nothing, then run the app or the test suite.

The README's Quick start is exactly two commands, and both go through here:

    python3 .ci/dev.py run     # system libraries, .venv, then the app on the sandbox
    python3 .ci/dev.py test    # the same plus test tools, then ruff, mypy and the whole suite
    python3 .ci/dev.py lint    # ruff and mypy only
    python3 .ci/dev.py lock    # constraints.txt afresh (maintainers, when updating pins)
    python3 .ci/dev.py package # the installer for this OS (on Debian/Ubuntu: dist/*.deb)
    python3 .ci/dev.py package-test  # the test suite inside a packaged app

Only the standard library is used, because this runs before anything is installed.
System packages come from briefcase.toml and are installed with apt-get on Debian and
Ubuntu when missing (elsewhere the script says what to install and goes on).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".ibdesk-installed"
CONSTRAINTS = ROOT / "constraints.txt"
"""The exact versions installs and builds use (`python3 .ci/dev.py lock` refreshes it)."""


def _say(message: str) -> None:
    print(f"[ibdesk setup] {message}", file=sys.stderr, flush=True)


def _debian_packages(groups: list[str]) -> list[str]:
    with open(ROOT / "briefcase.toml", "rb") as fh:
        table = tomllib.load(fh)["debian"]
    wanted: list[str] = []
    for group in groups:
        for name in table.get(group, []):
            if name not in wanted:
                wanted.append(name)
    return wanted


def _missing(packages: list[str]) -> list[str]:
    missing = []
    for name in packages:
        probe = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", name],
            capture_output=True,
            text=True,
            check=False,
        )
        if "install ok installed" not in probe.stdout:
            missing.append(name)
    return missing


def ensure_system_packages(groups: list[str]) -> None:
    if not sys.platform.startswith("linux") or shutil.which("dpkg-query") is None:
        return  # macOS / Windows wheels of Qt carry what they need.
    missing = _missing(_debian_packages(groups))
    if not missing:
        return
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            _say("missing system packages (install them, then run again): " + " ".join(missing))
            return
        prefix = ["sudo"]
    _say("installing system packages: " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def ensure_venv(extras: str) -> Path:
    if sys.version_info < (3, 11):
        sys.exit("ibdesk needs Python 3.11 or newer; run this with python3.11.")
    python = _venv_python()
    if not python.exists():
        _say(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()
                            + (CONSTRAINTS.read_bytes() if CONSTRAINTS.exists() else b"")
                            ).hexdigest()
    stamp = f"{digest} {extras}"
    done = STAMP.read_text().split("\n") if STAMP.exists() else []
    if stamp not in done:
        target = f".[{extras}]" if extras else "."
        _say(f"installing ibdesk{'[' + extras + ']' if extras else ''} into .venv")
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             *(["-c", str(CONSTRAINTS)] if CONSTRAINTS.exists() else []), "-e", target],
            check=True,
            cwd=ROOT,
        )
        STAMP.write_text("\n".join([*done, stamp]))
    return python


def run(args: list[str]) -> int:
    ensure_system_packages(["runtime"])
    python = ensure_venv("")
    # With no arguments: the app against the local sandbox, which needs no cloud account.
    return subprocess.call([str(python), "-m", "ibdesk", *(args or ["--sandbox"])], cwd=ROOT)


def _test_environment(python: Path | None = None) -> dict[str, str]:
    """What the suite must find here: the packages for a real Secret Service were just
    installed, so the test that needs them must run, not skip. Likewise the real
    components: cloud-init and systemd check what ibdesk writes, and (as root, which
    running IBeam as uid 1000 in namespaces needs) IBeam's own code."""
    env: dict[str, str] = {}
    if sys.platform.startswith("linux") and shutil.which("dbus-run-session"):
        env["IBDESK_REQUIRE_REAL_KEYRING"] = "1"
    if shutil.which("cloud-init") and shutil.which("systemd-analyze"):
        env["IBDESK_REQUIRE_TOOLS"] = "1"
    if shutil.which("prometheus"):
        env["IBDESK_REQUIRE_PROMETHEUS"] = "1"
    if sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("chromium"):
        subprocess.run([str(python or ensure_venv("")), "-m", "ibdesk", "sandbox",
                        "install-ibeam"], check=True, cwd=ROOT)
        env["IBDESK_REQUIRE_REAL_IBEAM"] = "1"
    return env


def _lint(python: Path) -> int:
    """ruff (style, bugbear, import order, RUF006) and mypy (strict on domain, cloud, store
    and gateway): their settings are in pyproject.toml."""
    bin_dir = python.parent
    code = subprocess.call([str(bin_dir / "ruff"), "check", "."], cwd=ROOT)
    return subprocess.call([str(bin_dir / "mypy")], cwd=ROOT) or code


def lint(args: list[str]) -> int:
    return _lint(ensure_venv("dev"))


def test(args: list[str]) -> int:
    ensure_system_packages(["runtime", "test"])
    python = ensure_venv("dev")
    if _lint(python):
        _say("ruff or mypy found problems (above): fix them first.")
        return 1
    env = dict(os.environ, **_test_environment(python))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    cmd = [str(python), "-m", "pytest", "--cov=ibdesk", "--cov-report=term", *args]
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    if code == 5:
        _say("pytest collected no tests: that is a failure here.")
        return 1
    return code


def lock(args: list[str]) -> int:
    """constraints.txt afresh: the newest versions pyproject.toml allows, installed into a
    new virtual environment (with the dev extras), frozen."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", f"{ROOT}[dev]"], check=True)
        frozen = subprocess.run([str(python), "-m", "pip", "freeze", "--exclude", "ibdesk"],
                                check=True, capture_output=True, text=True).stdout
    pins = sorted((line for line in frozen.splitlines()
                   if line and not line.startswith(("#", "-e"))), key=str.lower)
    CONSTRAINTS.write_text(
        "# Exact versions for installs and builds (pip -c, PIP_CONSTRAINT for Briefcase).\n"
        f"# Made by `python3 .ci/dev.py lock` with Python {sys.version_info.major}."
        f"{sys.version_info.minor} on {sys.platform}; packages other platforms need\n"
        "# (pywin32-ctypes, pyobjc) are not pinned here.\n" + "\n".join(pins) + "\n")
    _say(f"wrote {CONSTRAINTS} ({len(pins)} pins)")
    return 0


BRIEFCASE = "briefcase==0.4.7"
"""Pinned: the version whose `linux system` build was measured on these machines."""
BUILD_VENV = ROOT / ".build-venv"
VENDOR = Path("shared") / "vendor" / "briefcase-linux-system-template"
"""Briefcase's linux-system template, vendored for machines that cannot reach GitHub."""


def _vendored_template() -> Path | None:
    """Where the vendored template is: $IBDESK_BRIEFCASE_TEMPLATE, or `../shared/vendor/`
    beside this checkout, or beside the checkout it was cloned from."""
    candidates = [Path(os.environ["IBDESK_BRIEFCASE_TEMPLATE"])] \
        if os.environ.get("IBDESK_BRIEFCASE_TEMPLATE") else []
    candidates.append(ROOT.parent / VENDOR)
    origin = subprocess.run(["git", "config", "--get", "remote.origin.url"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    if origin and "://" not in origin and not origin.startswith("git@"):
        candidates.append(Path(origin).resolve().parent / VENDOR)
    return next((c for c in candidates if (c / "cookiecutter.json").is_file()), None)


def _github_reachable(timeout: float = 3.0) -> bool:
    import socket

    try:
        with socket.create_connection(("github.com", 443), timeout=timeout):
            return True
    except OSError:
        return False


def _briefcase() -> Path:
    """Briefcase in a venv of the system Python (`linux system` refuses any other)."""
    system_python = Path("/usr/bin/python3")
    python = BUILD_VENV / "bin" / "python"
    if not python.exists():
        _say(f"creating {BUILD_VENV} from {system_python}")
        subprocess.run([str(system_python), "-m", "venv", str(BUILD_VENV)], check=True)
    probe = subprocess.run([str(python), "-m", "pip", "show", "briefcase"],
                           capture_output=True, text=True, check=False)
    if f"Version: {BRIEFCASE.split('==')[1]}" not in probe.stdout:
        _say(f"installing {BRIEFCASE} into {BUILD_VENV}")
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", BRIEFCASE], check=True)
    return BUILD_VENV / "bin" / "briefcase"


def _bytecode(bundle_root: Path) -> None:
    """Compile the app and its packages into the bundle: Briefcase strips __pycache__ and
    its stub never writes bytecode, so every start compiled every module (2.2 s for
    --version; 0.9 s compiled). Unchecked hashes: the files never change once installed."""
    python = Path("/usr/bin/python3")
    targets = [str(p) for p in bundle_root.glob("usr/lib/*/app")] + \
        [str(p) for p in bundle_root.glob("usr/lib/*/app_packages")]
    if not targets:
        raise SystemExit(f"no app folder under {bundle_root}: Briefcase's layout changed?")
    subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0",
                    "--invalidation-mode", "unchecked-hash", *targets], check=True,
                   stdout=sys.stderr)


def _briefcase_setup() -> tuple[Path, dict[str, str], list[str]]:
    """Briefcase, the environment it builds with, and the template option (the vendored
    template when GitHub cannot be reached; none, i.e. Briefcase's default, otherwise)."""
    ensure_system_packages(["runtime", "build"])
    briefcase = _briefcase()
    env = dict(os.environ, PIP_CONSTRAINT=str(CONSTRAINTS), PIP_DISABLE_PIP_VERSION_CHECK="1")
    template: list[str] = []
    if not _github_reachable():
        vendored = _vendored_template()
        if vendored is None:
            raise SystemExit("GitHub cannot be reached and no vendored Briefcase template "
                             "was found: set IBDESK_BRIEFCASE_TEMPLATE to a copy of "
                             "beeware/briefcase-linux-system-template.")
        _say(f"GitHub cannot be reached: using the vendored template {vendored}")
        template = ["-C", f'template="{vendored}"']
    return briefcase, env, template


def _linux_only(what: str) -> bool:
    if sys.platform.startswith("linux") and shutil.which("dpkg-query") is not None:
        return True
    _say(f"Here only Debian/Ubuntu {what} are built; on Windows and macOS "
         ".github/workflows/installers.yml runs Briefcase itself.")
    return False


def package_test(args: list[str]) -> int:
    """The test suite inside a packaged app: a bundle built with the tests in it
    (`briefcase build --test`), run by its own executable (`briefcase run --test`,
    tests/ibdesk.py); the same checks of real components as `test` asks for."""
    if not _linux_only("bundles"):
        return 2
    briefcase, env, template = _briefcase_setup()
    common = ["linux", "system", "--no-input"]
    shutil.rmtree(ROOT / "build" / "ibdesk", ignore_errors=True)
    subprocess.run([str(briefcase), "create", *common, *template], check=True, cwd=ROOT,
                   env=env)
    subprocess.run([str(briefcase), "build", *common, "--test", "-r", *template], check=True,
                   cwd=ROOT, env=env)
    env.update(_test_environment())
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return subprocess.call([str(briefcase), "run", *common, "--test", *template,
                            *(["--", *args] if args else [])], cwd=ROOT, env=env)


def package(args: list[str]) -> int:
    """The installer for this operating system, from this checkout. On Debian and Ubuntu:
    a .deb in dist/ (Briefcase `linux system`). Windows and macOS installers are built by
    .github/workflows/installers.yml on their own runners."""
    if not _linux_only("packages"):
        return 2
    briefcase, env, template = _briefcase_setup()
    common = ["linux", "system", "--no-input"]
    shutil.rmtree(ROOT / "build" / "ibdesk", ignore_errors=True)  # a clean bundle each time
    # Briefcase's output goes to stderr: stdout carries only the .deb's path (.ci/run)
    for step in ("create", "build"):
        subprocess.run([str(briefcase), step, *common, *template], check=True, cwd=ROOT,
                       env=env, stdout=sys.stderr)
    bundles = sorted((ROOT / "build" / "ibdesk").glob("*/*/ibdesk-*"))
    if not bundles:
        raise SystemExit("Briefcase made no bundle under build/ibdesk/")
    _bytecode(bundles[-1])
    # unsigned (a .deb is trusted through the apt repository that serves it)
    subprocess.run([str(briefcase), "package", *common, "--adhoc-sign", *template, *args],
                   check=True, cwd=ROOT, env=env, stdout=sys.stderr)
    debs = sorted((ROOT / "dist").glob("ibdesk_*.deb"), key=lambda p: p.stat().st_mtime)
    if not debs:
        raise SystemExit("Briefcase wrote no .deb into dist/")
    _say(f"built {debs[-1]} ({debs[-1].stat().st_size / 1e6:.1f} MB)")
    print(debs[-1])
    return 0


def main(argv: list[str]) -> int:
    commands = {"run": run, "test": test, "lint": lint, "lock": lock, "package": package,
                "package-test": package_test}
    if not argv or argv[0] not in commands:
        print(__doc__)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
