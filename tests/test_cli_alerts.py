"""`ibdesk alerts add|list|test|remove`: the URL from standard input only, listed without
its secret parts, a test alert delivered for real to a local webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.alerts import SECRET_PATH, webhook_receiver
from tests.test_cli import run


@pytest.fixture
def hook() -> Iterator[tuple[list[dict[str, object]], int]]:
    with webhook_receiver() as receiver:
        yield receiver


def test_alert_targets_from_the_command_line(capsys: pytest.CaptureFixture[str], home: Path,
                                             hook: tuple[list[dict[str, object]], int]) -> None:
    received, port = hook
    code, out, _ = run(capsys, "alerts", "list")
    assert code == 0 and "No alert target yet" in out
    code, _, err = run(capsys, "alerts", "test")
    assert code == 1 and "No alert target yet" in err
    code, _, err = run(capsys, "alerts", "add", "--stdin", stdin="gopher://nothing\n")
    assert code == 1 and "Apprise does not recognise" in err
    url = f"json://127.0.0.1:{port}/{SECRET_PATH}"
    code, out, _ = run(capsys, "alerts", "add", "--stdin", stdin=url + "\n")
    assert code == 0 and "Alert target 1 added: json → 127.0.0.1" in out
    code, out, _ = run(capsys, "--json", "alerts", "list")
    assert json.loads(out) == {"targets": [{"number": 1, "target": "json → 127.0.0.1"}]}
    code, out, _ = run(capsys, "alerts", "test")
    assert code == 0 and out.strip() == "sent: json → 127.0.0.1"
    assert [r["title"] for r in received] == ["ibdesk: ibdesk: Test alert"]
    code, out, _ = run(capsys, "alerts", "remove", "1")
    assert code == 0 and "removed" in out
    code, out, _ = run(capsys, "alerts", "list")
    assert "No alert target yet" in out
    for path in home.rglob("*"):
        if path.is_file():
            assert SECRET_PATH.encode() not in path.read_bytes(), path
