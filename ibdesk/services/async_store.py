"""The repository for coroutines: every call runs on a worker thread.

The store is SQLite on the local disk: a read is quick, but a write waits for the file's
lock, and the first use opens and migrates the file. None of that may happen on the
event loop, which in the window is Qt's thread (a frozen window). Services therefore
call `await rt.store.require_account(id)`; `rt.repository` stays for threads and the
command line. Even the first use's opening happens on the worker thread.

Each method below is the repository's own, with its signature and docstring; mypy sees
`Repository`'s types. At run time the class is only named, so that importing the
services loads no SQLAlchemy (the window's start-up snapshot path must not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

if TYPE_CHECKING:
    from ibdesk.services.runtime import Runtime
    from ibdesk.store.repository import Repository

P = ParamSpec("P")
T = TypeVar("T")


class _Named:
    """At run time `_REPOSITORY.name` is just the method's name (see the docstring)."""

    def __getattr__(self, name: str) -> str:
        return name


if TYPE_CHECKING:
    _REPOSITORY = Repository
else:
    _REPOSITORY = _Named()


def _off_loop(method: Callable[Concatenate[Repository, P], T]
              ) -> Callable[Concatenate[AsyncRepository, P], Coroutine[Any, Any, T]]:
    name: str = method if isinstance(method, str) else method.__name__

    async def call(self: AsyncRepository, /, *args: P.args, **kwargs: P.kwargs) -> T:
        def run() -> T:
            bound: Callable[P, T] = getattr(self.rt.repository, name)
            return bound(*args, **kwargs)

        return await asyncio.to_thread(run)

    call.__name__ = call.__qualname__ = name
    return call


class AsyncRepository:
    """`Repository`'s methods as coroutines (see the module's docstring)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    add_account = _off_loop(_REPOSITORY.add_account)
    check_local_port = _off_loop(_REPOSITORY.check_local_port)
    local_ports = _off_loop(_REPOSITORY.local_ports)
    free_local_port = _off_loop(_REPOSITORY.free_local_port)
    set_local_port = _off_loop(_REPOSITORY.set_local_port)
    get_account = _off_loop(_REPOSITORY.get_account)
    require_account = _off_loop(_REPOSITORY.require_account)
    list_accounts = _off_loop(_REPOSITORY.list_accounts)
    list_accounts_with_details = _off_loop(_REPOSITORY.list_accounts_with_details)
    watched_account_ids = _off_loop(_REPOSITORY.watched_account_ids)
    accounts = _off_loop(_REPOSITORY.accounts)
    count_accounts = _off_loop(_REPOSITORY.count_accounts)
    droplet_names = _off_loop(_REPOSITORY.droplet_names)
    update_account = _off_loop(_REPOSITORY.update_account)
    pin_host_key = _off_loop(_REPOSITORY.pin_host_key)
    record_droplet = _off_loop(_REPOSITORY.record_droplet)
    delete_account = _off_loop(_REPOSITORY.delete_account)
    end_droplet_spans = _off_loop(_REPOSITORY.end_droplet_spans)
    droplet_spans = _off_loop(_REPOSITORY.droplet_spans)
    add_droplet_span = _off_loop(_REPOSITORY.add_droplet_span)
    record_status = _off_loop(_REPOSITORY.record_status)
    add_note = _off_loop(_REPOSITORY.add_note)
    record_statuses = _off_loop(_REPOSITORY.record_statuses)
    status_detail = _off_loop(_REPOSITORY.status_detail)
    history = _off_loop(_REPOSITORY.history)
    history_between = _off_loop(_REPOSITORY.history_between)
    latency_samples = _off_loop(_REPOSITORY.latency_samples)
    begin_operation = _off_loop(_REPOSITORY.begin_operation)
    claim_operation = _off_loop(_REPOSITORY.claim_operation)
    release_operation = _off_loop(_REPOSITORY.release_operation)
    update_operation = _off_loop(_REPOSITORY.update_operation)
    get_operation = _off_loop(_REPOSITORY.get_operation)
    operations = _off_loop(_REPOSITORY.operations)


__all__ = ["AsyncRepository"]
