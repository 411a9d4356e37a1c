"""DESIGN.md's layer rule, enforced with import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import CHECKOUT as ROOT
from tests.helpers import needs_checkout

pytestmark = needs_checkout


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_contracts_can_fail(tmp_path: Path) -> None:
    """A domain module importing httpx must break the contract (the check is real)."""
    bad = ROOT / "ibdesk" / "domain" / "_layer_probe.py"
    bad.write_text("import httpx  # noqa\n")
    try:
        lint = Path(sys.executable).with_name("lint-imports")
        result = subprocess.run([str(lint), str(ROOT / "pyproject.toml"),
                                 "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                                check=False, timeout=300)
    finally:
        bad.unlink()
    assert result.returncode != 0
    assert "ibdesk.domain._layer_probe" in result.stdout
