"""The repository for coroutines (services/async_store.py): the same methods, each run
on a worker thread, the store opened there too, and nothing of SQLAlchemy loaded until
then."""

from __future__ import annotations

import inspect
import subprocess
import threading
from pathlib import Path

import pytest

from ibdesk.domain.models import Account, new_account_id
from ibdesk.services import open_runtime
from ibdesk.services.async_store import AsyncRepository
from ibdesk.store.repository import Repository
from tests.helpers import PYTHON


def _public(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")}


def test_every_repository_method_has_its_coroutine() -> None:
    assert _public(AsyncRepository) == _public(Repository) - {"open", "close"}
    for name in _public(AsyncRepository):
        assert inspect.iscoroutinefunction(getattr(AsyncRepository, name)), name


async def test_calls_and_the_first_opening_run_off_the_loop(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[tuple[str, int]] = []
    opened = Repository.open.__func__  # type: ignore[attr-defined]
    added = Repository.add_account

    def open_(cls: type[Repository], url: str) -> Repository:
        seen.append(("open", threading.get_ident()))
        return opened(cls, url)  # type: ignore[no-any-return]

    def add(self: Repository, *args: object, **kwargs: object) -> Account:
        seen.append(("add_account", threading.get_ident()))
        return added(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Repository, "open", classmethod(open_))
    monkeypatch.setattr(Repository, "add_account", add)
    rt = open_runtime(home)
    try:
        account = Account(id=new_account_id("demo"), username="u", environment="demo")
        saved = await rt.store.add_account(account, "added", port_skip=lambda port: False)
        assert saved.local_port is not None  # keyword arguments pass through
        assert await rt.store.require_account(account.id) == saved
        assert [name for name, _ in seen] == ["open", "add_account"]
        assert all(thread != loop_thread for _, thread in seen)
    finally:
        rt.close()


def test_importing_it_loads_no_sqlalchemy() -> None:
    code = ("import sys, ibdesk.services.async_store, ibdesk.services.runtime\n"
            "assert 'sqlalchemy' not in sys.modules\n")
    subprocess.run([*PYTHON, "-c", code], check=True, timeout=60)


def test_no_service_calls_the_store_on_the_loop_thread() -> None:
    """`in_thread(repo.x, …)` was written by hand 104 times; `rt.store` is the one way."""
    import ibdesk.services

    package = Path(ibdesk.services.__file__).parent
    found = [f"{path.name}:{number}" for path in package.rglob("*.py")
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if "in_thread(" in line and ("repository" in line or "repo." in line)]
    assert found == []

