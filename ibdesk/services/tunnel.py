"""The trader's own door to the gateway: https://localhost:PORT on the workstation,
forwarded over SSH to IBeam's 127.0.0.1:5000 on the droplet (what ibind / ib_async style
clients and the trader's scripts connect to)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ibdesk.domain import ibeam as ib
from ibdesk.services.remote import RemoteAccess, in_thread
from ibdesk.services.runtime import Runtime


@asynccontextmanager
async def open_tunnel(rt: Runtime, account_id: str, local_port: int = ib.GATEWAY_PORT
                      ) -> AsyncIterator[int]:
    """Yields the local port; the tunnel closes when the block ends."""
    account = await in_thread(rt.repository.require_account, account_id)
    async with RemoteAccess(rt).open(account) as remote:
        listener = await remote.forward(ib.GATEWAY_PORT, local_port)
        try:
            yield listener.get_port()
        finally:
            listener.close()


__all__ = ["open_tunnel"]
