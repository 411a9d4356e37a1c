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

from ibdesk.domain.backoff import Backoff
from ibdesk.domain.errors import GatewayError, GatewayUnreachable
from ibdesk.domain.models import Account
from ibdesk.gateway import Remote, connect, resolve_endpoint
from ibdesk.services.keys import AppKey
from ibdesk.services.runtime import Runtime
from ibdesk.services.token import TokenService

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        # SSH needs no DigitalOcean token (the sandbox's port map is told it when there is
        # one): a revoked token must not stop the monitor's probes
        token = await in_thread(TokenService(self._rt).stored)
        private_key = await in_thread(AppKey(self._rt.secrets).private_key)
        settings = self._rt.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        waits = Backoff(0.5, 10.0)
        # the row as it is now: a pin made since `account` was read must be used
        current = await self._rt.store.get_account(account.id) or account
        pinned = current.host_key_pin
        if pinned is None and current.ibeam_started:
            raise GatewayError(
                f"ibdesk has no SSH host key on record for {current.do_droplet_name or 'this '}"
                " server although it delivered the IBKR login to it, so it cannot tell the "
                "server from an impostor and will not connect (it never trusts a new key "
                "then). Delete the account and connect it again: a new server gets a new "
                "key.", account_id=account.id)
        droplet_id = current.do_droplet_id
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
                    delay = next(waits)
                    if loop.time() + delay > deadline:
                        raise
                    if on_wait is not None:
                        on_wait(exc.user_message)
                    await asyncio.sleep(delay)
            if not pinned:
                if droplet_id is None:
                    raise GatewayUnreachable("This account has no server yet.",
                                             account_id=account.id)
                kept = await self._rt.store.pin_host_key(account.id,
                                       droplet_id, remote.host_key)
                if kept != remote.host_key:  # another first connection pinned another key
                    raise GatewayError(
                        "Two first connections to this new server saw different SSH host "
                        "keys: someone may be intercepting the connection. ibdesk kept the "
                        "first and closed this one. Run Diagnose.", account_id=account.id)
                log.info("pinned the SSH host key of %s's server %s", account.id, droplet_id)
            # this frame waits here as long as the connection is open (a monitor's, for
            # days): it keeps the connection, not two copies of the account (7 MB over a
            # thousand accounts, tracemalloc at 1,000) or the key
            del account, current, private_key, token
            yield remote


__all__ = ["RemoteAccess", "in_thread"]
