"""DESIGN.md's layer rule, enforced with import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import os
import shutil
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
    """A domain module importing httpx must break the contract (the check is real). The
    probe goes into a copy of the package, never into the source tree."""
    shutil.copytree(ROOT / "ibdesk", tmp_path / "ibdesk",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "ibdesk" / "domain" / "_layer_probe.py").write_text("import httpx  # noqa\n")
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                            cwd=tmp_path, capture_output=True, text=True, check=False,
                            timeout=300, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode != 0
    assert "ibdesk.domain._layer_probe" in result.stdout
    assert not (ROOT / "ibdesk" / "domain" / "_layer_probe.py").exists()
