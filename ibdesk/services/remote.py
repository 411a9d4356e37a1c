"""Opening SSH to an account's droplet, with its host key pinned in the account's row.

Used by the provisioner, status checks, the tunnel and diagnostics, so that trust on
first use happens in exactly one place: the first successful connection stores the
server's public host key (public information, so SQLite is the right home); every later
connection must match it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from ibdesk.domain.errors import GatewayUnreachable
from ibdesk.domain.models import Account
from ibdesk.gateway import Remote, connect, resolve_endpoint
from ibdesk.services.keys import AppKey
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService

log = logging.getLogger(__name__)
T = TypeVar("T")
HOST_KEY = "ssh_host_key"


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a store call off the event loop (the window must never wait on the disk)."""
    return await asyncio.to_thread(fn, *args, **kwargs)


class RemoteAccess:
    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    @asynccontextmanager
    async def open(self, account: Account, *, wait: float = 0.0,
                   on_wait: Callable[[str], None] | None = None) -> AsyncIterator[Remote]:
        """SSH as root to the account's droplet; with `wait`, keep trying that long while
        the server is still coming up (refused, closed, timed out)."""
        if not account.do_ip_address:
            raise GatewayUnreachable("This server has no address yet.", account_id=account.id)
        token = await in_thread(TokenService(self._rt).require)
        private_key = await in_thread(AppKey(self._rt.secrets).private_key)
        settings = self._rt.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        delay = 0.5
        pinned = account.custom_data.get(HOST_KEY)
        async with contextlib.AsyncExitStack() as stack:
            while True:
                try:
                    endpoint = await resolve_endpoint(
                        account.do_ip_address, sandbox_map_url=settings.sandbox_ssh_map_url,
                        token=token)
                    remote = await stack.enter_async_context(
                        connect(endpoint, private_key, pinned_host_key=pinned))
                    break
                except GatewayUnreachable as exc:
                    if loop.time() + delay > deadline:
                        raise
                    if on_wait is not None:
                        on_wait(exc.user_message)
                    await asyncio.sleep(delay)
                    delay = min(10.0, delay * 1.6)
            if not pinned:
                await self._pin(account.id, remote.host_key)
            yield remote

    async def _pin(self, account_id: str, host_key: str) -> None:
        repo = self._rt.repository
        current = await in_thread(repo.require_account, account_id)
        data = dict(current.custom_data)
        data[HOST_KEY] = host_key
        await in_thread(repo.update_account, account_id, custom_data=data)
        log.info("pinned the SSH host key of %s's server", account_id)


__all__ = ["HOST_KEY", "RemoteAccess", "in_thread"]
