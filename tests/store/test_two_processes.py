"""The window and the CLI write at once: neither may fail with "database is locked"."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from ibdesk.domain.models import Account
from ibdesk.store import Repository
from tests.helpers import PYTHON

WRITER = textwrap.dedent("""
    import sys
    from ibdesk.domain.enums import ServerStatus
    from ibdesk.store import Repository

    url, account_id, tag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    repo = Repository.open(url)          # both also race to migrate
    statuses = [ServerStatus.RUNNING, ServerStatus.INITIALIZING]
    for i in range(n):
        repo.record_status(account_id, statuses[i % 2], f"{tag} {i}")
        repo.begin_operation(f"{tag}-{i}", account_id, "connect", {"i": i})
        repo.update_operation(f"{tag}-{i}", step="done")
        repo.list_accounts()
    print("ok", tag)
""")


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    account_ids = ["ib-demo-0000000a", "ib-demo-0000000b"]
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    # Let both processes race on the migration as well: the file starts empty.
    procs = [subprocess.Popen([*PYTHON, str(script), url, aid, tag, "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for aid, tag in zip(account_ids, "ab", strict=True)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    repo = Repository.open(url)
    for aid in account_ids:
        repo.add_account(Account(id=aid, username=aid[-1], environment="demo"))
    repo.close()

    n = 150
    procs = [subprocess.Popen([*PYTHON, str(script), url, aid, tag, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for aid, tag in zip(account_ids, "ab", strict=True)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "database is locked" not in err
        assert out.startswith("ok")

    repo = Repository.open(url)
    try:
        for aid in account_ids:
            # every change alternates, so every call appended: 1 (added) + n
            assert len(repo.history(aid)) == n + 1
        assert len(repo.operations(states=["pending"])) == 2 * n
    finally:
        repo.close()
